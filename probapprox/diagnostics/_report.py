"""Importance-weight diagnostics of a fitted approximation (Yao et al. 2018).

With draws θ_s ~ q and log-weights ``log w_s = log p(x, θ_s) − log q(θ_s)``:

* ELBO estimate ``mean(log w)`` with standard error ``sd(log w)/√S``;
* PSIS k̂: the shape of a generalized Pareto fit to the upper tail of ``w``.
  k̂ < 0.5: q is close to the posterior in the sense that importance sampling
  converges quickly; 0.5–0.7: usable with care; > 0.7: q misses mass the
  posterior has, and neither q nor importance sampling can be trusted for
  tail quantities;
* the effective sample size of the Pareto-smoothed weights.

References:
    Yao, Vehtari, Simpson, Gelman (2018), "Yes, but did it work?: Evaluating
    variational inference", ICML. Vehtari, Simpson, Gelman, Yao, Gabry (2024),
    "Pareto smoothed importance sampling", JMLR.

"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from probapprox.diagnostics._psis import psis, psis_khat_threshold

__all__ = ["Diagnostics", "diagnose", "ApproximationWarning"]


class ApproximationWarning(UserWarning):
    """The fitted approximation looks unreliable (e.g. large PSIS k̂)."""


@dataclass(frozen=True)
class Diagnostics:
    """Diagnostics of one fit.

    Attributes:
        pareto_k: PSIS k̂ of the importance weights.
        ess: effective sample size of the smoothed importance weights.
        num_samples: draws used.
        elbo: ELBO estimate ``mean(log p − log q)``.
        elbo_se: its Monte Carlo standard error.
        khat_threshold: sample-size-dependent reliability threshold ``min(1 − 1/log10 S, 0.7)``.
        warnings: plain-language warnings.
        ladder: for ``pa.fit(model, "auto")``, the ladder of families tried (a table).

    """

    pareto_k: float
    ess: float
    num_samples: int
    elbo: float
    elbo_se: float
    khat_threshold: float
    warnings: tuple[str, ...] = field(default_factory=tuple)
    ladder: str = ""

    def __str__(self) -> str:
        lines = [
            f"ELBO {self.elbo:.4f} ± {self.elbo_se:.4f} (S = {self.num_samples})",
            f"PSIS k̂ {self.pareto_k:.3f} (reliable below {self.khat_threshold:.2f}), "
            f"importance ESS {self.ess:.0f}",
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines + ([self.ladder] if self.ladder else []))


MIN_DRAWS = 100  # the k̂ threshold min(1 − 1/log10 S, 0.7) is 0.5 at S = 100, < 0 below 10


def diagnose(log_p: np.ndarray, log_q: np.ndarray) -> Diagnostics:
    """Diagnostics from per-draw ``log p(x, θ_s)`` and ``log q(θ_s)``.

    Raises:
        ValueError: with fewer than ``MIN_DRAWS`` = 100 draws, too few for PSIS k̂ to say
            anything about the approximation (its reliability threshold is 0.5 at 100
            draws and negative below 10).

    """
    log_w = np.asarray(log_p, dtype=np.float64) - np.asarray(log_q, dtype=np.float64)
    n = log_w.size
    if n < MIN_DRAWS:
        raise ValueError(
            f"diagnostics need at least {MIN_DRAWS} draws (num_samples >= {MIN_DRAWS}); got "
            f"{n}. With so few draws PSIS k̂ cannot tell a poor approximation from noise; "
            "use about 10⁴ (the default)."
        )
    bad = ~np.isfinite(log_w)
    notes: list[str] = []
    if bad.any():
        notes.append(
            f"{int(bad.sum())} of {n} draws have a non-finite log p(x, θ) − log q(θ); the "
            "approximation puts mass where the model has none (or the model overflows). They "
            "count as zero importance weight."
        )
        log_w = np.where(np.isnan(log_w) | (log_w == np.inf), -np.inf, log_w)
    finite = log_w[np.isfinite(log_w)]
    elbo = float(np.mean(finite)) if finite.size else float("nan")
    elbo_se = float(np.std(finite, ddof=1) / np.sqrt(finite.size)) if finite.size > 1 else np.nan
    res = psis(log_w)
    k = float(res.pareto_k)
    threshold = psis_khat_threshold(n)
    if np.isnan(k) or k > 0.7:  # k = -inf: the largest weights are equal (q = p), no warning
        notes.append(
            f"PSIS k̂ = {k:.2f} > 0.7: the approximation misses posterior mass (typically too "
            "narrow, or a missing mode or heavy tail). Do not trust its tails or uncertainty; "
            "use a richer guide (full-rank Gaussian, flow, mixture), reparameterise the model, "
            "or check the fit with MCMC."
        )
    elif k > threshold:
        notes.append(
            f"PSIS k̂ = {k:.2f} exceeds the reliability threshold {threshold:.2f} for "
            f"{n} draws: draw more samples (num_samples) or improve the approximation."
        )
    elif k > 0.5:
        notes.append(
            f"PSIS k̂ = {k:.2f} is between 0.5 and 0.7: the approximation is usable for means, "
            "but its variances and tails may be off."
        )
    return Diagnostics(
        pareto_k=k,
        ess=float(res.ess),
        num_samples=n,
        elbo=elbo,
        elbo_se=elbo_se,
        khat_threshold=threshold,
        warnings=tuple(notes),
    )
