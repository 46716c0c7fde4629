r"""Judging one rung of ``pa.fit(model, "auto")``: ELBO, PSIS k̂, the KL estimate, the stop.

See :mod:`probapprox.infer._auto` for how the ladder uses them.

Reference: Yao, Vehtari, Simpson, Gelman (2018), "Yes, but did it work?: Evaluating
variational inference", ICML; Vehtari et al. (2024), "Pareto smoothed importance sampling",
JMLR.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.special import logsumexp

from probapprox.diagnostics import ApproximationWarning, Diagnostics, diagnose
from probapprox.infer._auto_report import format_ladder
from probapprox.infer._result import FitResult
from probapprox.potential import ModeSearch

__all__ = [
    "GAP_FLOOR",
    "GAP_TOL",
    "KHAT_CERTIFIED",
    "KHAT_GOOD",
    "NUM_DRAWS",
    "beaten_by",
    "choose",
    "judge",
    "polishes",
    "same_gaussian",
    "stops",
]

KHAT_CERTIFIED = 0.7
KHAT_GOOD = 0.5
GAP_TOL = 0.02
GAP_FLOOR = 1e-3
POLISH_MAX_SD_RATIO = 3.0
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
) -> tuple[Diagnostics, float, float, Any]:
    r"""Diagnostics, the importance KL estimate, its standard error and the draws of a fit.

    With :math:`w_s = p(x, z_s) / q(z_s)`, :math:`z_s \sim q`,
    :math:`\log Z - \mathrm{ELBO} = \mathrm{KL}(q\|p)` is estimated by
    :math:`\hat g = \log \bar w - \overline{\log w}` (draws with a non-finite weight count
    as zero weight). Its standard error is the delta method's: the sd over draws of the
    influence :math:`w_s / \bar w - \log w_s` over :math:`\sqrt S`. The estimate is biased
    low when the weights are heavy-tailed, so it is trusted only with :math:`\hat k < 0.5`
    (Yao et al. 2018; Vehtari et al. 2024, "Pareto smoothed importance sampling", JMLR).

    ``sampler``: a compiled sampler (:func:`probapprox.infer._draws.make_sampler`) of an
    equivalent guide to use instead of compiling one for ``res`` (see :func:`same_gaussian`).
    Returns ``(diagnostics, gap, gap_se, draws)``.
    """
    if sampler is not None:
        draws = sampler(num_draws, seed, res.params)
    else:
        draws = res._draws(num_draws, seed, need_model=True)
    d = diagnose(draws.log_p, draws.log_q)
    log_w = np.asarray(draws.log_p, np.float64) - np.asarray(draws.log_q, np.float64)
    log_w = np.where(np.isnan(log_w) | (log_w == np.inf), -np.inf, log_w)
    log_z = float(logsumexp(log_w) - np.log(log_w.size))
    if not (np.isfinite(log_z) and np.isfinite(d.elbo)):
        return d, np.inf, np.inf, draws
    gap = max(float(log_z - d.elbo), 0.0)
    finite = np.isfinite(log_w)
    if not finite.all():  # a zero weight: the ELBO is -inf (caught above) or the draw is rare
        return d, gap, np.inf, draws
    influence = np.exp(log_w - log_z) - log_w
    return d, gap, float(np.std(influence) / np.sqrt(log_w.size)), draws


def stops(rung: str, khat: float, gap: float, search: ModeSearch) -> bool:
    """Whether a certified rung ends the ladder: k̂ < ``KHAT_GOOD`` and KL estimate < ``GAP_TOL``.

    The Laplace and Gaussian rungs stop only when at most one mode was found.
    """
    good = khat < KHAT_GOOD and gap < GAP_TOL
    if rung in ("laplace", "gaussian"):
        return len(search.modes) <= 1 and good
    return rung in ("modes", "mixture") and good


def polishes(rung: str, gap: float, gap_se: float, search: ModeSearch) -> bool:
    r"""Whether a stop at the Laplace or Gaussian rung still runs the mixture rung first.

    The stop says a richer family can gain less than ``GAP_TOL`` nats; when the KL estimate
    is nonetheless above its noise (three standard errors) and ``GAP_FLOOR``, that much is
    there to gain, and with one mode whose Laplace sds differ by at most
    ``POLISH_MAX_SD_RATIO`` the isotropic mixture, its components spread around the mode, is
    the cheap family to try (the skewed one-dimensional beta-Bernoulli posterior: Laplace KL
    0.0066, mixture 1.6e-5). Isotropic components cannot follow a mode much longer in one
    direction than another (the mixture does not run in whitened coordinates): on the 3-D
    ``logistic_1e4`` case, sds 1e4 apart, its ELBO was 15 nats below the Laplace rung's. The
    flow rung still waits for a gap above ``GAP_TOL``.
    """
    if rung not in ("laplace", "gaussian") or len(search.modes) != 1:
        return False
    sd = np.sqrt(np.clip(np.linalg.eigvalsh(search.modes[0].cov), 0.0, None))
    round_enough = sd.min() > 0 and sd.max() <= POLISH_MAX_SD_RATIO * sd.min()
    return bool(round_enough and gap > max(GAP_FLOOR, 3.0 * gap_se))


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


def choose(rows: list, fits: list, search: ModeSearch, seconds: float) -> FitResult:
    """The ladder's result: the certified rung with the best ELBO, else the best with a warning.

    A rung beaten by a richer rung's ELBO (:func:`beaten_by`) loses its certificate first.
    The ladder goes to ``info["auto"]`` of the returned fit.
    """
    ran = [i for i, f in enumerate(fits) if f is not None]
    if not ran:
        raise RuntimeError(
            "pa.fit(model, 'auto'): no rung could be fitted:\n" + format_ladder(rows)
        )
    for i in ran:  # a richer rung's higher ELBO means this one has more KL, whatever its k̂
        better = beaten_by(rows[i], [rows[j] for j in ran if j > i])
        if rows[i]["certified"] and better:
            rows[i]["certified"] = False
            stop = rows[i]["verdict"].partition("; ")[2]  # why the ladder went on or stopped
            rows[i]["verdict"] = f"not certified: {better[0]} has a higher ELBO" + (
                f"; {stop}" if stop else ""
            )
    certified = [i for i in ran if rows[i]["certified"]]
    pool = certified or ran
    best = max(pool, key=lambda i: rows[i]["elbo"] if np.isfinite(rows[i]["elbo"]) else -np.inf)
    rows[best]["verdict"] += "; chosen"
    if not certified:
        tried = ", ".join(
            f"{rows[i]['family']} (k̂ {rows[i]['khat']:.2f}, ELBO {rows[i]['elbo']:.2f})"
            for i in ran
        )
        warnings.warn(
            f"pa.fit(model, 'auto'): no family was certified (PSIS k̂ < {KHAT_CERTIFIED}); tried "
            f"{tried}. Returning {rows[best]['family']}, the best by ELBO: do not trust its "
            "tails or uncertainty; check it with MCMC or reparameterise the model.",
            ApproximationWarning,
            stacklevel=3,
        )
    result = fits[best]
    result.info["auto"] = rows
    result.info["auto_family"] = rows[best]["family"]
    result.info["auto_modes"] = len(search.modes)
    result.info["auto_seconds"] = seconds
    return result
