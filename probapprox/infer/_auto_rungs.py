r"""The rungs of ``pa.fit(model, "auto")``: which guide each builds and how it starts.

1. ``laplace``: :class:`~probapprox.guides.AutoLaplace` at the best MAP of the multi-start
   search, its parameters set from the search's Newton MAP and floored curvature without
   any fit (:mod:`._auto_laplace`; above ``dense_max``, where the search knows only the
   Hessian diagonal, ``AutoLaplace`` is fitted and polishes the MAP with its own search).
2. ``gaussian``: the whitened full-rank Gaussian (``AutoMultivariateNormal``; the low-rank
   one above ``dense_max``), started by ``pa.fit``'s warm start.
3. ``modes``: with two or more modes found, the full-covariance Laplace Gaussian of every
   mode (at most ``MAX_COMPONENTS``), combined as a PSIS stack
   (:mod:`probapprox.infer._psis_stack`): weights :math:`\pi_k` = the share of the Pareto-
   smoothed importance weight carried by mode :math:`k`'s draws, which converges to the
   modes' posterior masses when the components are good local fits. No optimisation: one
   draw of :math:`S` per mode and the cross-densities.
4. ``mixture``: :class:`~probapprox.guides.AutoIsoGaussianMixture` with
   :math:`\max(2, \lceil N / K\rceil)` components for each of the :math:`K` distinct modes,
   :math:`N` from :func:`num_mixture_components` (at least the family's default 10; 20 in
   2-D): one at the mode, the others one Laplace sd beside it in random directions, so that
   they can follow a curved mode; variances the
   mean Laplace variance of the mode, weights learned and started at the modes' Laplace
   masses :math:`\propto e^{\log m_k}` split evenly between the mode's components. Measured
   on Rezende's two-lobed U1 (seed 0): KL 0.256 with two components per mode; 10
   components half a Laplace sd beside the modes 0.058 (seed 1: 0.040), one sd beside them
   0.031 (0.035), and 20 components one sd beside them 0.005 (0.006). Without any
   converged mode (e.g. a funnel) the guide's own spread initialisation is used.
5. ``flow``: :class:`~probapprox.guides.AutoNormalizingFlow`. With one mode (or none, as in
   a funnel) it is an affine masked autoregressive flow (``ONE_MODE_FLOW = "maf"``, normal
   base) started as the best single-Gaussian rung's fit (``base``): the flow's last layer is
   the affine map :math:`z = m + L x`, so setting :math:`m, L` to that Gaussian's mean and
   Cholesky factor, with every other layer at the identity, makes the starting flow exactly
   that Gaussian; it keeps the flow's default estimator schedule (the path estimator from
   the first step instead was measured, seed 0, 5000 steps: funnel KL 0.053 -> 0.043,
   banana 0.019 -> 0.015, but Rezende's U2 0.009 -> 0.067, so it was not kept). An affine
   autoregressive layer
   :math:`y_d = \mu_d(x_{<d}) + e^{s_d(x_{<d})} x_d` represents the shape of a funnel or a
   centred hierarchy exactly: given the scale coordinate :math:`v` the others are Gaussian
   with scale :math:`e^{v/2}` (Neal's funnel) or :math:`\tau` (a centred hierarchy), which
   is :math:`s_d` as a function of an earlier coordinate, and the flow's autoregressive
   layers follow the model's sampling order, where the scale comes first. Measured at 5000
   steps (with a pseudo-random layer order, before that change) on a loaded
   machine (KL from the exact :math:`\log Z`, moments against long NUTS): funnel (10-D)
   KL 0.15 (spline coupling, Student-t base: 0.64); centred eight schools worst mean error
   0.017 sd and sd error 5 % (spline, Student-t: 0.24 sd and 42 %; MAF with a Student-t base:
   0.035 sd, 9 %, and twice the time). With several modes it follows the flow guide's own
   recipe for multimodal targets (a flow started from one Gaussian is mode-seeking): its
   default flow, a normal base, a wide start (``init_scale=3``) and the likelihood
   annealed over the first half of the steps (``PathELBO(16, path_warmup=n,
   anneal_steps=n // 2)``, the standard estimator throughout; Rezende & Mohamed 2015).
   Otherwise ``pa.fit``'s warm start starts it. The one-mode flow is the ladder's last
   and most precise word, so it gets ``FLOW_STEPS_FACTOR`` = 2 times the step budget and a
   stopping rule with ``tol`` = ``FLOW_TOL`` = 0.01 nats (0.05 elsewhere); measured at seed 0,
   at about 1-5 s more per fit: banana KL 0.025 -> 0.006, funnel 0.023 -> 0.018, eight schools
   ELBO -31.339 -> -31.322 (log Z -31.311), logistic regression -56.810 -> -56.795.

With at most one mode the ``mixture`` rung is skipped when the flow rung is allowed
(``max_rung``): an isotropic mixture seeded at one mode adds little that the flow, started
from the Gaussian, does not.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoMultivariateNormal

from probapprox.estimators import PathELBO
from probapprox.guides import AutoIsoGaussianMixture, AutoLaplace, AutoNormalizingFlow
from probapprox.infer._converge import ConvergenceRule
from probapprox.infer._psis_stack import Stack, stack_weights
from probapprox.potential import ModeSearch

__all__ = [
    "RUNGS",
    "flow_init",
    "missed_modes",
    "mode_stack",
    "num_mixture_components",
    "rung_guide",
]

RUNGS = ("laplace", "gaussian", "modes", "mixture", "flow")
MAX_COMPONENTS = 32
MIN_COMPONENTS = 10  # AutoIsoGaussianMixture's default number of components
COMPONENTS_TIMES_DIM = 40  # see num_mixture_components
SIDE = 1.0  # a mode's extra components start this many Laplace sds from it
ONE_MODE_FLOW = "maf"
ONE_MODE_BASE = "normal"
FLOW_STEPS_FACTOR = 2
FLOW_TOL = 0.01


def num_mixture_components(dim: int) -> int:
    """Components of the mixture rung in ``dim`` dimensions (before the per-mode minimum).

    ``max(MIN_COMPONENTS, min(MAX_COMPONENTS, COMPONENTS_TIMES_DIM // dim))``: 20 in 2-D, 13
    in 3-D, 10 from 4-D on. In few dimensions a curved or elongated mode needs several
    isotropic components along it, and a step costs little more with more of them (the
    draws' log densities dominate). Measured on Rezende's U1 (2-D, seeds 0/1): KL 0.058/0.040
    with 10 components, 0.005/0.006 with 20, at the same 5-6 s; the 2-D three-mode mixture
    ``mog2d``: 0.034/0.043 → 0.028/0.022.
    """
    return max(MIN_COMPONENTS, min(MAX_COMPONENTS, COMPONENTS_TIMES_DIM // max(dim, 1)))


def _mixture_init(search: ModeSearch, seed: int, dim: int) -> tuple[int, dict[str, Any] | None]:
    modes = search.modes[: MAX_COMPONENTS // 2]
    if not modes:
        return MIN_COMPONENTS, None
    rng = np.random.default_rng(seed)
    per = max(2, -(-num_mixture_components(dim) // len(modes)))
    means, variances, logits = [], [], []
    for m in modes:
        var = float(np.mean(np.diag(m.cov)))
        v = rng.standard_normal((per - 1, *m.loc.shape))
        side = SIDE * np.sqrt(var) * v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        means += [m.loc, *(m.loc + side)]
        variances += [var] * per
        logits += [m.log_mass - np.log(per)] * per
    logits = np.asarray(logits) - np.max(logits)
    params = {
        "auto_means": np.asarray(means),
        "auto_variances": np.asarray(variances),
        "auto_logits": np.maximum(logits, -30.0),
    }
    return len(means), params


def mode_components(search: ModeSearch) -> list[dict[str, Any]]:
    """``AutoMultivariateNormal`` parameters of each mode's Laplace Gaussian."""
    return [
        {"auto_loc": np.asarray(m.loc), "auto_scale_tril": np.linalg.cholesky(m.cov)}
        for m in search.modes[:MAX_COMPONENTS]
    ]


def mode_stack(res: Any, search: ModeSearch, *, num_draws: int, seed: int) -> Any:
    """The stack of the modes' Laplace Gaussians, in the shape of ``res``.

    ``res`` is a stepless ``AutoMultivariateNormal`` result that provides the guide; the
    weights are PSIS stacking weights (:func:`probapprox.infer._psis_stack.stack_weights`).
    """
    params = [
        {k: jnp.asarray(v, dtype=jnp.asarray(res.params[k]).dtype) for k, v in p.items()}
        for p in mode_components(search)
    ]
    per = max(num_draws // len(params), 500)
    weights, _ = stack_weights(res.model, res.guide, res.args, res.kwargs, params, per, seed)
    return dataclasses.replace(res, stack=Stack(params, np.asarray(weights)))


def flow_init(base: dict[str, Any] | None, prefix: str = "auto") -> dict[str, Any] | None:
    """Initial affine-layer parameters that make a fresh flow the Gaussian ``base``.

    ``base`` holds ``loc`` (D,) and lower-triangular ``scale_tril`` (D, D); the flow's
    triangular affine layer is ``L = diag(exp(log_scale)) + strict_lower(tril)``.
    """
    if base is None:
        return None
    tril = np.asarray(base["scale_tril"])
    return {
        f"{prefix}_affine_loc": np.asarray(base["loc"]),
        f"{prefix}_affine_log_scale": np.log(np.diag(tril)),
        f"{prefix}_affine_tril": np.tril(tril, -1),
    }


def rung_guide(
    rung: str,
    model: Any,
    search: ModeSearch,
    dim: int,
    *,
    dense_max: int,
    seed: int,
    base: dict[str, Any] | None = None,
    num_steps: int = 5000,
) -> tuple[Any, dict[str, Any]]:
    """``(guide, fit options)`` for one rung (options: ``init_params``, ``num_steps`` cap).

    ``base``: for the flow rung, the Gaussian (``loc``, ``scale_tril``) it starts from;
    ``num_steps``: the flow rung's step budget (its annealing schedule depends on it).
    """
    if rung == "laplace":
        guide = AutoLaplace(model, structure="full" if dim <= dense_max else "diag",
                            dense_max=dense_max)  # fmt: skip
        init = {"auto_loc": np.asarray(search.best.loc)} if search.best is not None else None
        return guide, {"init_params": init, "num_steps": 1, "early_stop": False}
    if rung == "gaussian":
        if dim <= dense_max:
            return AutoMultivariateNormal(model), {}
        return AutoLowRankMultivariateNormal(model), {}
    if rung == "modes":  # built without steps from the modes (``_auto_laplace.gaussian_result``)
        return AutoMultivariateNormal(model), {"init_params": mode_components(search)[0]}
    if rung == "mixture":
        n, init = _mixture_init(search, seed, dim)
        return AutoIsoGaussianMixture(model, num_components=n), {"init_params": init}
    if rung == "flow":
        if len(search.modes) > 1:  # the flow guide's recipe for several modes
            n = int(num_steps)
            loss = PathELBO(16, path_warmup=n, anneal_steps=max(n // 2, 1))
            return AutoNormalizingFlow(model, init_scale=3.0), {"loss": loss}
        guide = AutoNormalizingFlow(model, flow=ONE_MODE_FLOW, base=ONE_MODE_BASE)
        extra: dict[str, Any] = {
            "num_steps": FLOW_STEPS_FACTOR * int(num_steps),
            "early_stop": ConvergenceRule(tol=FLOW_TOL),
        }
        init = flow_init(base)
        return guide, extra if init is None else {**extra, "init_params": init}
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
