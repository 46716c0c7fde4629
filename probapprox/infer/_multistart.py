r"""Compare the runs of a multi-start fit and pick the best one or stack them.

Each run :math:`k` is evaluated with :math:`S` draws: its ELBO estimate (with standard error)
and PSIS :math:`\hat k` (Yao et al. 2018). Whether the runs found the same approximation is
judged by the potential scale reduction across runs, computed on the draws of every latent
coordinate as if each run were a chain of independent draws,

.. math::
    \hat R = \sqrt{\frac{\tfrac{S-1}{S} W + \tfrac1S B}{W}}, \qquad
    B = \frac{S}{K-1}\sum_k (\bar\theta_k - \bar\theta)^2, \quad
    W = \frac1K \sum_k s_k^2,

(Gelman & Rubin 1992; the across-run diagnostic suggested in arviz#498). Runs that agree give
:math:`\hat R \approx 1`; runs whose means differ by :math:`\delta` posterior standard
deviations give :math:`\hat R \approx 1 + \delta^2/2`, so the default threshold 1.05 flags
disagreements of about a third of a standard deviation or more.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from probapprox.diagnostics import diagnose
from probapprox.infer._converge import ConvergenceWarning
from probapprox.infer._draws import make_sampler
from probapprox.infer._psis_stack import Stack, stack_weights
from probapprox.infer._subsample import evaluation_pair

__all__ = ["StartSummary", "compare_starts", "rhat_across", "RHAT_THRESHOLD"]

RHAT_THRESHOLD = 1.05


class StartSummary(NamedTuple):
    """One run of a multi-start fit.

    Attributes:
        elbo: ELBO estimate (NaN for a failed run).
        elbo_se: its Monte Carlo standard error.
        pareto_k: PSIS k̂.
        converged_at: step at which the stopping rule fired, or ``None``.
        failed: whether the run stopped on a non-finite loss or gradient.

    """

    elbo: float
    elbo_se: float
    pareto_k: float
    converged_at: int | None
    failed: bool


def rhat_across(draws: list[np.ndarray]) -> float:
    r"""Largest :math:`\hat R` over coordinates; ``draws[k]`` is ``(S, P)`` for run ``k``."""
    x = np.stack(draws)  # (K, S, P)
    k, s = x.shape[0], x.shape[1]
    if k < 2 or s < 2:
        return float("nan")
    means = x.mean(axis=1)
    within = x.var(axis=1, ddof=1).mean(axis=0)
    between = s * means.var(axis=0, ddof=1)
    var_plus = (s - 1) / s * within + between / s
    ok = within > 0
    if not ok.any():
        return 1.0 if np.allclose(between, 0) else math.inf
    return float(np.max(np.sqrt(var_plus[ok] / within[ok])))


def _flat(latent: dict[str, np.ndarray], num: int) -> np.ndarray:
    return np.concatenate([np.reshape(v, (num, -1)) for v in latent.values()], axis=1)


def compare_starts(
    model: Callable,
    guide: Any,
    args: tuple,
    kwargs: dict,
    params: list[dict],
    failed: np.ndarray,
    converged_at: list[int | None],
    *,
    select: str,
    num_draws: int,
    seed: int,
) -> tuple[int, Stack | None, list[StartSummary], dict[str, Any]]:
    """Evaluate the runs; return ``(best, stack or None, summaries, info)``.

    Warns (:class:`ConvergenceWarning`) when the runs disagree.
    """
    model_eval, guide_eval, _ = evaluation_pair(model, guide, args, kwargs, num_draws)
    sampler = make_sampler(model_eval, guide_eval, args, kwargs)
    summaries, flat = [], []
    for k, p in enumerate(params):
        if failed[k]:
            summaries.append(StartSummary(math.nan, math.nan, math.nan, None, True))
            continue
        d = sampler(num_draws, seed, p)
        diag = diagnose(d.log_p, d.log_q)
        summaries.append(
            StartSummary(diag.elbo, diag.elbo_se, diag.pareto_k, converged_at[k], False)
        )
        flat.append(_flat(d.latent, num_draws))
    alive = [k for k in range(len(params)) if not failed[k]]
    elbos = np.array([summaries[k].elbo for k in alive])
    best = alive[int(np.nanargmax(np.where(np.isfinite(elbos), elbos, -np.inf)))]
    rhat = rhat_across(flat)
    info: dict[str, Any] = {
        "num_starts": len(params),
        "rhat_across_starts": rhat,
        "start_elbos": [s.elbo for s in summaries],
        "start_pareto_k": [s.pareto_k for s in summaries],
        "selected_start": best,
    }
    stack = None
    if select == "stack":
        w_alive, khat = stack_weights(
            model, guide, args, kwargs, [params[k] for k in alive], num_draws, seed
        )
        weights = np.zeros(len(params))
        weights[alive] = w_alive
        stack = Stack([params[k] for k in alive], w_alive)
        info.update(stack_weights=weights.tolist(), stack_pareto_k=khat)
    if len(alive) > 1 and not rhat < RHAT_THRESHOLD:
        lo, hi = float(np.nanmin(elbos)), float(np.nanmax(elbos))
        kept = "a PSIS-weighted stack of the runs" if stack else f"the best run (start {best})"
        warnings.warn(
            f"probapprox.fit: the {len(alive)} starts disagree (R̂ across starts {rhat:.3g} >= "
            f"{RHAT_THRESHOLD}; ELBOs from {lo:.4g} to {hi:.4g}). The posterior may be "
            f"multimodal, or some runs have not converged. The result holds {kept}; see "
            "result.starts and result.info['start_elbos'].",
            ConvergenceWarning,
            stacklevel=4,
        )
    return best, stack, summaries, info
