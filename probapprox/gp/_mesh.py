r"""Data-parallel :meth:`LatentGP.fit` on a :class:`jax.sharding.Mesh` with a ``"data"`` axis.

Each step's ``b`` columns are laid out over the ``"data"`` devices (a sharding constraint on
the batch indices); the variational table (ν, V), its Adam moments and the hyperparameters
stay replicated. XLA's SPMD partitioner (GSPMD) evaluates each device's columns where they
are and sums the gradient across devices inside the jitted epoch. The table's gradient is the
gradient of the *gathered* rows the step touches (``rowset``: at most ``b·a`` rows of ``m``
entries), so what is reduced is that ``O(b·a·m)`` block, never a dense ``n·m`` table; the
row-sparse Adam update then scatters it into the replicated table on every device. The result
is the single-device fit up to the order of floating-point sums.

Memory per training point on one device (float64): the row of q and its two Adam moments,
``24 (m + 2)`` bytes, plus the ordered inputs and the pattern, ``8 (d + 1) + 4 m + 4 a``
bytes (``a`` ancestors): about 1 KB at ``m = 20``, ``a = 60``, ``d = 2``. The plan beyond
one device's memory (not implemented) is in the README section "Beyond one machine": split the
table by contiguous blocks of the maximin ordering, replicate the coarsest block, and route
each step's touched rows to their owners with one all-to-all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import jax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["columns_on_mesh", "shard_columns"]

_MESH: ContextVar[Mesh | None] = ContextVar("probapprox_gp_mesh", default=None)


def _check(mesh: Any) -> Mesh:
    if not isinstance(mesh, Mesh) or "data" not in mesh.axis_names:
        raise ValueError(
            "probapprox.gp.LatentGP.fit(mesh=...) expects a jax.sharding.Mesh with a 'data' "
            f"axis, e.g. jax.make_mesh(({jax.device_count()},), ('data',)); got {mesh!r}."
        )
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * mesh.devices.ndim)


def shard_columns(cols: jax.Array) -> jax.Array:
    """Lay a step's batch indices over the active mesh's ``"data"`` axis (else unchanged)."""
    mesh = _MESH.get()
    if mesh is None or cols.shape[0] % mesh.shape["data"] != 0:
        return cols
    return jax.lax.with_sharding_constraint(cols, NamedSharding(mesh, P("data")))


@contextmanager
def columns_on_mesh(mesh: Any) -> Iterator[None]:
    """Trace the training epochs with :func:`shard_columns` active (no-op for ``None``)."""
    if mesh is None:
        yield
        return
    from probapprox.gp._train import run_epochs

    token = _MESH.set(_check(mesh))
    run_epochs.clear_cache()  # the compiled epochs depend on the mesh: trace them again
    try:
        yield
    finally:
        _MESH.reset(token)
        run_epochs.clear_cache()
