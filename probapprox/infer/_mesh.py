r"""Data-parallel and multi-start fits on a :class:`jax.sharding.Mesh` (``pa.fit(mesh=...)``).

The fit stays one jitted program; only the placement of its inputs changes, and XLA's SPMD
partitioner (GSPMD) splits the work and inserts the collectives:

* **data** (mesh axis ``"data"``): every array argument of the model with an axis as long as
  one of the model's full (not subsampled) plates (the first such axis, if it divides evenly
  over the devices) is laid out in blocks of that axis over the ``"data"`` devices, and the
  plate's indices ``arange(N)`` likewise; other arguments are replicated. Each device
  evaluates the log density of its block, and the sum over the plate and hence the gradient,
  :math:`\nabla\sum_i \ell_i = \sum_{d}\nabla\sum_{i\in d}\ell_i`, is reduced by an
  all-reduce inside the jitted chunk. (A model that indexes a full plate's data, ``x[idx]``,
  makes GSPMD all-gather the blocks each step: it cannot know that ``idx`` keeps rows local.)
  A subsampled plate's data are replicated and its subsample indices laid out over ``"data"``
  (a sharding constraint on the plate's indices), so each device gathers ``b / devices``
  points of each step's subsample from its own copy and no data row crosses devices (with
  split data the gathered rows were all-reduced every step). Arrays the caller already placed
  on the mesh (e.g. with :func:`probapprox.distributed.shard_rows`, one block per process)
  are kept as they are.
* **starts** (mesh axis ``"starts"``): the ``K`` runs of ``num_starts=K`` (the leading axis
  of the loop state) are laid out over the ``"starts"`` devices; ``K`` must be a multiple of
  the axis size. A 2-D mesh ``("starts", "data")`` does both.

The parameters and optimiser state are replicated over ``"data"``. The result is the same
fit: the same random numbers, the same global subsample, only the order of floating-point
summation differs (relative differences of order :math:`10^{-15}` per step in float64).

Reference: Xu et al. (2021), "GSPMD: general and scalable parallelization for ML
computation graphs", arXiv:2105.04663.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from numpyro.primitives import Messenger

from probapprox.infer._static_trace import read_trace

__all__ = [
    "DATA",
    "STARTS",
    "auto_mesh",
    "check_mesh",
    "host_value",
    "on_mesh",
    "place_args",
    "place_state",
    "put",
]

DATA = "data"
STARTS = "starts"


def check_mesh(mesh: Any, num_starts: int) -> Mesh | None:
    """Validate ``fit(mesh=...)``: a ``Mesh`` with a ``"data"`` and/or ``"starts"`` axis."""
    if mesh is None:
        return None
    if not isinstance(mesh, Mesh):
        raise TypeError(
            "probapprox.fit(mesh=...) expects a jax.sharding.Mesh, e.g. "
            f"jax.make_mesh(({jax.device_count()},), ('data',)); got {type(mesh).__name__}."
        )
    names = set(mesh.axis_names)
    if not names & {DATA, STARTS}:
        raise ValueError(
            f"probapprox.fit(mesh=...): the mesh axes are {mesh.axis_names}; name an axis "
            "'data' (shard the data) and/or 'starts' (spread the runs of num_starts)."
        )
    if names - {DATA, STARTS}:
        raise ValueError(
            f"probapprox.fit(mesh=...): unknown mesh axes {sorted(names - {DATA, STARTS})}; "
            "the axes are 'data' and 'starts'."
        )
    if STARTS in names and num_starts % mesh.shape[STARTS] != 0:
        raise ValueError(
            f"probapprox.fit(mesh=...): num_starts={num_starts} is not a multiple of the "
            f"mesh's 'starts' axis ({mesh.shape[STARTS]} devices); use num_starts="
            f"{mesh.shape[STARTS] * max(1, num_starts // mesh.shape[STARTS])} or a smaller axis."
        )
    return auto_mesh(mesh)


def auto_mesh(mesh: Mesh) -> Mesh:
    """``mesh`` with "Auto" axes: GSPMD lays out the intermediates.

    ``jax.make_mesh``'s default "Explicit" axes would make the user's model spell out the
    sharding of every gather (``x[idx]``).
    """
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * mesh.devices.ndim)


def put(x: Any, sharding: NamedSharding) -> jax.Array:
    """Place a host-identical value on ``sharding`` (works across processes)."""
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def _plate_sizes(model: Callable, args: tuple, kwargs: dict) -> tuple[set[int], set[int]]:
    """The sizes of the model's full plates and of its subsampled plates."""
    try:
        plates = read_trace(
            model, args, kwargs, lambda tr: [s["args"] for s in tr.values() if s["type"] == "plate"]
        )
    except Exception:  # noqa: BLE001 - the fit reports a model that cannot run, later
        return set(), set()
    sub = {int(n) for n, b in plates if b is not None and b != n}
    return {int(n) for n, _ in plates} - sub, sub


def _on_mesh(x: Any, mesh: Mesh) -> bool:
    other = getattr(getattr(x, "sharding", None), "mesh", None)
    return (
        isinstance(x, jax.Array)
        and other is not None
        and other.axis_names == mesh.axis_names
        and np.array_equal(other.device_ids, mesh.device_ids)
    )


def place_args(args: tuple, kwargs: dict, mesh: Mesh | None, model: Callable) -> tuple[tuple, dict]:
    """Lay the model's array arguments out on ``mesh`` (see the module docstring)."""
    if mesh is None:
        return args, kwargs
    sizes, _ = _plate_sizes(model, args, kwargs)  # a subsampled plate's data: replicated
    num = mesh.shape.get(DATA, 1)

    def place(x: Any) -> Any:
        if not isinstance(x, jax.Array | np.ndarray) or np.ndim(x) == 0:
            return x
        if _on_mesh(x, mesh):  # placed by the caller: keep the layout, on "Auto" axes
            return jax.device_put(x, NamedSharding(mesh, x.sharding.spec))
        axes = [a for a, n in enumerate(np.shape(x)) if n in sizes and n % num == 0]
        spec = P(*([None] * axes[0]), DATA) if axes and DATA in mesh.axis_names else P()
        return put(x, NamedSharding(mesh, spec))

    return jax.tree.map(place, (args, kwargs))


def place_state(state: Any, mesh: Mesh | None, *, batched: bool) -> Any:
    """Replicate the loop state, or lay its leading (runs) axis over ``"starts"``."""
    if mesh is None:
        return state
    spread = batched and STARTS in mesh.axis_names

    def place(x: Any) -> Any:
        if not isinstance(x, jax.Array | np.ndarray):
            return x
        spec = P(STARTS) if spread and np.ndim(x) > 0 else P()
        return put(x, NamedSharding(mesh, spec))

    return jax.tree.map(place, state)


class shard_subsamples(Messenger):  # noqa: N801 - a NumPyro handler
    """Lay each subsampled plate's indices over the mesh's ``"data"`` axis."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        super().__init__()

    def postprocess_message(self, msg: dict) -> None:
        if msg["type"] != "plate" or DATA not in self.mesh.axis_names:
            return
        size, sub = msg["args"]
        num = self.mesh.shape[DATA]
        if (sub is None or sub == size) and size % num == 0:
            # the full plate's ``arange``: split like the data, so ``x[idx]`` stays local
            # (unconstrained, GSPMD gathers every block of ``x`` onto every device each step)
            msg["value"] = jax.lax.with_sharding_constraint(
                msg["value"], NamedSharding(self.mesh, P(DATA))
            )
        elif sub is not None and sub % num == 0:
            # replicated first: the draw of the subsample (a scan of scatters on CPU) must not
            # inherit the split layout, or every scatter of it becomes a collective
            value = jax.lax.with_sharding_constraint(msg["value"], NamedSharding(self.mesh, P()))
            msg["value"] = jax.lax.with_sharding_constraint(
                value, NamedSharding(self.mesh, P(DATA))
            )


def on_mesh(chunk: Callable[..., Any], mesh: Mesh | None) -> Callable[..., Any]:
    """``chunk`` traced under :class:`shard_subsamples` (unchanged without a mesh)."""
    if mesh is None:
        return chunk

    def run(*args: Any) -> Any:
        with shard_subsamples(mesh):
            return chunk(*args)

    return run


def host_value(x: Any) -> np.ndarray:
    """The full value of ``x`` on this host (gathered when other processes hold parts).

    Every process must call it for a sharded multi-process array (it is a collective).
    """
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
