r"""Judging one rung of ``pa.fit(model, "auto")``: ELBO, PSIS k̂, the KL estimate, the stop.

See :mod:`probapprox.infer._auto` for how the ladder uses them.

Reference: Yao, Vehtari, Simpson, Gelman (2018), "Yes, but did it work?: Evaluating
variational inference", ICML; Vehtari et al. (2024), "Pareto smoothed importance sampling",
JMLR.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from probapprox.diagnostics import Diagnostics, diagnose
from probapprox.infer._result import FitResult
from probapprox.potential import ModeSearch

__all__ = [
    "GAP_TOL",
    "KHAT_CERTIFIED",
    "KHAT_GOOD",
    "NUM_DRAWS",
    "beaten_by",
    "judge",
    "same_gaussian",
    "stops",
]

KHAT_CERTIFIED = 0.7
KHAT_GOOD = 0.5
GAP_TOL = 0.02
NUM_DRAWS = 10_000


def same_gaussian(res: FitResult) -> bool:
    """Whether one compiled sampler can judge ``res`` in place of another such fit's.

    True for a full-covariance Gaussian on the flat latent whose parameters are exactly
    ``auto_loc`` and ``auto_scale_tril`` (``AutoLaplace(structure="full")`` at its factors,
    or ``AutoMultivariateNormal``), without a stack or subsampled plates.
    """
    if res.stack is not None or set(res.params) != {"auto_loc", "auto_scale_tril"}:
        return False
    name = type(res.guide).__name__
    full = name == "AutoMultivariateNormal" or (
        name == "AutoLaplace" and getattr(res.guide, "structure", "") == "full"
    )
    return full and not res.info.get("subsampled_plates")


def judge(
    res: FitResult, num_draws: int, seed: int, *, sampler: Any = None
) -> tuple[Diagnostics, float, Any]:
    r"""Diagnostics, the importance KL estimate and the draws of one rung's fit.

    With :math:`w_s = p(x, z_s) / q(z_s)`, :math:`z_s \sim q`,
    :math:`\log Z - \mathrm{ELBO} = \mathrm{KL}(q\|p)` is estimated by
    :math:`\log \frac1S \sum_s w_s - \frac1S \sum_s \log w_s` (draws with a non-finite
    weight count as zero weight). The estimate is biased low when the weights are
    heavy-tailed, so it is trusted only with :math:`\hat k < 0.5` (Yao et al. 2018; Vehtari et
    al. 2024, "Pareto smoothed importance sampling", JMLR).

    ``sampler``: a compiled sampler (:func:`probapprox.infer._draws.make_sampler`) of an
    equivalent guide to use instead of compiling one for ``res`` (see :func:`same_gaussian`).
    """
    if sampler is not None:
        draws = sampler(num_draws, seed, res.params)
    else:
        draws = res._draws(num_draws, seed, need_model=True)
    d = diagnose(draws.log_p, draws.log_q)
    log_w = np.asarray(draws.log_p, np.float64) - np.asarray(draws.log_q, np.float64)
    log_w = np.where(np.isnan(log_w) | (log_w == np.inf), -np.inf, log_w)
    log_z = float(logsumexp(log_w) - np.log(log_w.size))
    gap = log_z - d.elbo if np.isfinite(log_z) and np.isfinite(d.elbo) else np.inf
    return d, max(float(gap), 0.0), draws


def stops(rung: str, khat: float, gap: float, search: ModeSearch) -> bool:
    """Whether a certified rung ends the ladder: k̂ < ``KHAT_GOOD`` and KL estimate < ``GAP_TOL``.

    The Laplace and Gaussian rungs stop only when at most one mode was found.
    """
    good = khat < KHAT_GOOD and gap < GAP_TOL
    if rung in ("laplace", "gaussian"):
        return len(search.modes) <= 1 and good
    return rung in ("modes", "mixture") and good


def beaten_by(row: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    r"""Families among ``others`` whose ELBO beats ``row``'s by two combined standard errors.

    :math:`\mathrm{ELBO}_j - \mathrm{ELBO}_i = \mathrm{KL}(q_i\|p) - \mathrm{KL}(q_j\|p)`, so
    such a rung is closer to the posterior in KL whatever the k̂ of either says.
    """
    return [
        r["family"]
        for r in others
        if np.isfinite(r["elbo"])
        and r["elbo"] - row["elbo"] > 2 * np.hypot(r["elbo_se"], row["elbo_se"])
    ]
