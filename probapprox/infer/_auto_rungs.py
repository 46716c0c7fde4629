r"""The rungs of ``pa.fit(model, "auto")``: which guide each builds and how it starts.

1. ``laplace``: :class:`~probapprox.guides.AutoLaplace` at the best MAP of the multi-start
   search (its own Newton search polishes it; curvature floored by the one rule).
2. ``gaussian``: the whitened full-rank Gaussian (``AutoMultivariateNormal``; the low-rank
   one above ``dense_max``), started by ``pa.fit``'s warm start.
3. ``mixture``: :class:`~probapprox.guides.AutoIsoGaussianMixture` with two components per
   distinct mode (at the mode and half a Laplace sd beside it), variances the mean Laplace
   variance of the mode, weights learned and started at the modes' Laplace masses
   :math:`\propto e^{\log m_k}` split evenly between the mode's components. Without any
   converged mode (e.g. a funnel) the guide's own spread initialisation is used.
4. ``flow``: :class:`~probapprox.guides.AutoNormalizingFlow` with its default flow (the
   flows issue's default), started by ``pa.fit``'s diagonal warm start.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoMultivariateNormal

from probapprox.guides import AutoIsoGaussianMixture, AutoLaplace, AutoNormalizingFlow
from probapprox.potential import ModeSearch

__all__ = ["RUNGS", "rung_guide"]

RUNGS = ("laplace", "gaussian", "mixture", "flow")
MAX_COMPONENTS = 32


def _mixture_init(search: ModeSearch, seed: int) -> tuple[int, dict[str, Any] | None]:
    modes = search.modes[: MAX_COMPONENTS // 2]
    if not modes:
        return 10, None
    rng = np.random.default_rng(seed)
    means, variances, logits = [], [], []
    for m in modes:
        var = float(np.mean(np.diag(m.cov)))
        v = rng.standard_normal(m.loc.shape)
        side = 0.5 * np.sqrt(var) * v / max(np.linalg.norm(v), 1e-12)
        means += [m.loc, m.loc + side]
        variances += [var, var]
        logits += [m.log_mass - np.log(2.0)] * 2
    logits = np.asarray(logits) - np.max(logits)
    params = {
        "auto_means": np.asarray(means),
        "auto_variances": np.asarray(variances),
        "auto_logits": np.maximum(logits, -30.0),
    }
    return len(means), params


def rung_guide(
    rung: str, model: Any, search: ModeSearch, dim: int, *, dense_max: int, seed: int
) -> tuple[Any, dict[str, Any]]:
    """``(guide, fit options)`` for one rung (options: ``init_params``, ``num_steps`` cap)."""
    if rung == "laplace":
        guide = AutoLaplace(model, structure="full" if dim <= dense_max else "diag",
                            dense_max=dense_max)  # fmt: skip
        init = {"auto_loc": np.asarray(search.best.loc)} if search.best is not None else None
        return guide, {"init_params": init, "num_steps": 1, "early_stop": False}
    if rung == "gaussian":
        if dim <= dense_max:
            return AutoMultivariateNormal(model), {}
        return AutoLowRankMultivariateNormal(model), {}
    if rung == "mixture":
        n, init = _mixture_init(search, seed)
        return AutoIsoGaussianMixture(model, num_components=n), {"init_params": init}
    if rung == "flow":
        return AutoNormalizingFlow(model), {}
    raise ValueError(f"Unknown rung {rung!r}; the rungs are {', '.join(RUNGS)}.")


def missed_modes(
    draws: dict[str, Any], supports: dict[str, Any], search: ModeSearch, *, min_share: float = 0.01
) -> int:
    r"""How many found modes a rung's draws miss (PSIS k̂ cannot see a missing mode).

    Each draw (constrained site values, unconstrained and flattened in model order) is
    assigned to its nearest mode in the Mahalanobis distance of that mode's Laplace curvature.
    A mode whose Laplace mass share :math:`m_k / \sum_j m_j` is at least ``min_share`` is
    missed when fewer than a tenth of that share of the draws are assigned to it.
    """
    if len(search.modes) < 2:
        return 0
    from numpyro.distributions.transforms import biject_to

    parts = []
    for name, support in supports.items():
        x = np.asarray(biject_to(support).inv(draws[name]))
        parts.append(x.reshape(x.shape[0], -1))
    z = np.concatenate(parts, axis=1)
    dist2 = np.stack([[m.sq_distance(row) for row in z] for m in search.modes], axis=1)
    nearest = np.argmin(dist2, axis=1)
    mass = np.array([m.log_mass for m in search.modes])
    share = np.exp(mass - mass.max())
    share /= share.sum()
    got = np.bincount(nearest, minlength=len(share)) / len(nearest)
    return int(np.sum((share >= min_share) & (got < 0.1 * share)))
