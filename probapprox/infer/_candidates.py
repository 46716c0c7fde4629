r"""Where the warm start searches from, and which search each start keeps.

Start 0 searches from the guide's own initial point and keeps the search whose local Laplace
Gaussian has the best ELBO. Prior draws help where the guide's point is poor: NumPyro's
default ``init_to_uniform`` puts every latent in ``[-2, 2]`` on the unconstrained scale, so on
data measured around 500 a centred hierarchical model starts with all group means equal and
the search runs into :math:`\tau \to 0`, while a prior draw spreads the group means as
:math:`\tau` says. So when the search from the guide's point did not end at a mode with
positive curvature (or failed the ELBO check), start 0 searches again from that point and
``NUM_PRIOR_CANDIDATES`` draws of the prior (:func:`needs_candidates`). A single-start fit
whose first search converges never samples the prior: on a small model the prior's samplers
(a Beta's rejection sampler, say) cost more to compile than the rest of the warm start.
Starts ``k >= 1`` of a multi-start fit each search from one prior draw (uniform on
``[-2, 2]^D`` when the prior cannot be sampled), so they stay dispersed rather than all
picking the heaviest mode; those fits draw start 0's candidates with them in one go. Every
search is one row of a single ``vmap``-ed program (a single start's later candidates run
through it one row at a time, so it compiles once). Above ``dense_max`` dimensions (L-BFGS
and a diagonal Hessian from ``D`` Hessian-vector products) start 0 searches from the guide's
point only, and above :data:`MAX_DIM` the warm start is skipped: the curvature would cost more
than the fit it saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from probapprox.infer._flat import FlatLatent, prior_points
from probapprox.infer._warmstart import WarmStart, warm_start

__all__ = [
    "needs_candidates",
    "search_points",
    "run_searches",
    "DISPERSION_RADIUS",
    "MAX_DIM",
    "NUM_PRIOR_CANDIDATES",
]

DISPERSION_RADIUS = 2.0
NUM_PRIOR_CANDIDATES = 3
MAX_DIM = 2000
NUM_CHECK_DRAWS = 16


def search_points(
    model: Callable,
    flat: FlatLatent,
    args: tuple,
    kwargs: dict,
    seed: int,
    num_starts: int,
    *,
    candidates: bool,
    dense_max: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(points (M, D), owner (M,))``: start points of the searches and the start of each.

    With ``candidates`` (and ``D <= dense_max``) start 0 also searches from
    ``NUM_PRIOR_CANDIDATES`` prior draws; else one point per start (its own starting point).
    """
    extra = NUM_PRIOR_CANDIDATES if candidates and flat.dim <= dense_max else 0
    if num_starts == 1 and not extra:
        return np.asarray(flat.init)[None], np.zeros(1, int)
    prior = prior_points(model, flat, args, kwargs, seed, extra + num_starts - 1)
    if prior is None:
        rng = np.random.default_rng(seed)
        spread = rng.uniform(-DISPERSION_RADIUS, DISPERSION_RADIUS, (num_starts - 1, flat.dim))
        prior = np.concatenate([np.zeros((0, flat.dim)), spread])
        extra = 0
    init = np.asarray(flat.init)[None]
    points = np.concatenate([init, prior[:extra], prior[extra:]])
    owner = np.concatenate([np.zeros(1 + extra, int), np.arange(1, num_starts)])
    return points, owner


def needs_candidates(ws: WarmStart) -> bool:
    """Whether start 0's search from the guide's point alone is not to be trusted.

    True unless it passed the ELBO check and ended at a mode with positive curvature that it
    kept (:attr:`WarmStart.converged`): a search that ran off, stalled or met a saddle is
    repeated together with searches from prior draws.
    """
    return not (bool(np.asarray(ws.accepted)[0]) and bool(np.asarray(ws.converged)[0]))


def run_searches(
    model: Callable,
    flat: FlatLatent,
    dynamic: list,
    rebuild: Callable,
    points: np.ndarray,
    owner: np.ndarray,
    *,
    init_scale: float,
    structure: str,
    dense_max: int,
    seed: int,
    candidates: Callable[[], np.ndarray] | None = None,
) -> tuple[WarmStart, dict[str, Any]]:
    """Run every search in one program; per start, the kept search and a report for ``info``.

    ``candidates``: for a single start searched from its own point only, a function that
    draws more start points for it, called when :func:`needs_candidates`; each of them runs
    through the same compiled program (one row at a time, so nothing is compiled again).
    """
    dtype = flat.init.dtype

    def one(z: jax.Array, e: jax.Array, dyn: list) -> WarmStart:
        a, kw = rebuild(dyn)
        s = jnp.asarray(init_scale, z.dtype)
        return warm_start(
            flat.potential(model, a, kw), z, s, e, structure=structure, dense_max=dense_max
        )

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed + 1)  # host draws: a PRNG in the program costs compile time
    eps = rng.standard_normal((NUM_CHECK_DRAWS, flat.dim))
    program = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))

    def search(z: np.ndarray) -> WarmStart:
        e = jnp.asarray(np.broadcast_to(eps, (len(z), *eps.shape)), dtype)
        out = program(jnp.asarray(z, dtype), e, dynamic)
        return jax.tree.map(np.array, jax.device_get(out))  # writable host copies

    out = search(points)
    if candidates is not None and len(points) == 1 and needs_candidates(out):
        more = [search(p[None]) for p in candidates()]
        out = jax.tree.map(lambda *xs: np.concatenate(xs), out, *more)
        owner = np.zeros(1 + len(more), int)
    keep = []
    for k in range(int(owner.max()) + 1):
        rows = np.flatnonzero(owner == k)
        lap = np.where(np.isfinite(out.elbo_laplace[rows]), out.elbo_laplace[rows], -np.inf)
        keep.append(rows[int(np.argmax(lap))])
        first = rows[0]  # the start's own point: the baseline of the check
        ok = np.isfinite(lap.max()) and not lap.max() < out.elbo_init[first]
        out.accepted[keep[-1]] = ok and bool(np.all(np.isfinite(out.factor[keep[-1]])))
    firsts = [int(np.flatnonzero(owner == k)[0]) for k in range(len(keep))]
    kept = jax.tree.map(lambda x: x[np.asarray(keep)], out)
    kept = kept._replace(elbo_init=out.elbo_init[firsts])
    return kept, _report(kept, structure, len(owner), time.perf_counter() - t0)


def _report(ws: WarmStart, structure: str, num_searches: int, seconds: float) -> dict[str, Any]:
    acc = np.asarray(ws.accepted)
    details = {
        "accepted": acc.tolist(),
        "iterations": np.asarray(ws.iterations).tolist(),
        "num_clipped": np.asarray(ws.num_clipped).tolist(),
        "decrement": np.asarray(ws.decrement).tolist(),
        "elbo_laplace": np.asarray(ws.elbo_laplace).tolist(),
        "elbo_init": np.asarray(ws.elbo_init).tolist(),
        "num_searches": num_searches,
    }
    if acc.all():
        text = f"{structure} whitening at the MAP"
    elif acc.any():
        text = f"{structure} whitening at the MAP for {int(acc.sum())} of {acc.size} starts"
    else:
        lap, ini = float(details["elbo_laplace"][0]), float(details["elbo_init"][0])
        text = (
            f"not applied: the Laplace start's ELBO ({lap:.4g}) was not better than the "
            f"guide's own start ({ini:.4g}); the fit starts from the guide's own initialisation"
        )
    return {"warm_start": text, "warm_start_details": details, "warm_start_seconds": seconds}
