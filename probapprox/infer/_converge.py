r"""A stopping rule for a noisy loss trace: is the ELBO still moving by more than ``tol``.

At step :math:`t` the rule looks at the last :math:`W = \max(W_{\min}, f t)` losses, averages
them in :math:`B` consecutive batches (batch means absorb the short-range autocorrelation of
stochastic-optimisation noise), and fits a line to the batch means. With slope :math:`b`
(per step) and its standard error :math:`\mathrm{se}(b)` from the residuals, the loss is
projected over the horizon :math:`H = \max(W, N - t)` (the rest of the budget of :math:`N`
steps, at least one window), and the fit has converged when the whole confidence interval of
that change lies inside :math:`(-\mathrm{tol}, \mathrm{tol})`:

.. math::
    \big(|b| + t_{1-\alpha/2,\,B-2}\,\mathrm{se}(b)\big)\,H < \mathrm{tol}.

So a fit stops only when the rest of its budget could not buy more than ``tol`` nats at the
current rate (a slow but steady improvement, such as mixture weights creeping towards the mode
masses, keeps it going), a trace that rises is not converged, and a plateau is detected once
the window bounds its slope tightly enough: with per-step noise :math:`\sigma` the bound on
the slope is about :math:`t_{1-\alpha/2}\,\sigma\sqrt{12/W^3}` (linear regression on
:math:`W` points), so a very noisy estimator runs to the cap rather than stopping on a guess.
The loss is in nats (−ELBO), so ``tol`` is a change in KL divergence whatever the size of the
data set.

Reference: the batch-means error of Flegal & Jones (2010), Ann. Statist. 38(2); the
"slope of the smoothed ELBO over a window" criterion discussed in pymc#2093 / pymc-extras#733.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from probapprox._checks import check_int, check_positive

__all__ = ["ConvergenceRule", "ConvergenceWarning", "warn_not_converged"]

_OWNER = "ConvergenceRule"


class ConvergenceWarning(UserWarning):
    """A fit reached ``num_steps`` before its loss settled, or multi-start runs disagree."""


@functools.lru_cache(maxsize=64)
def _t_quantile(confidence: float, dof: int) -> float:
    return float(stats.t.ppf(0.5 + 0.5 * confidence, dof))


@dataclass(frozen=True)
class ConvergenceRule:
    r"""Windowed slope test on the loss trace (see the module docstring).

    Args:
        tol: largest change of the loss (nats) over the next window that counts as converged.
        window_fraction: window :math:`W` as a fraction of the steps so far.
        min_window: smallest window (steps); default ``max(100, num_steps // 20)``, so that a
            slow but steady improvement over a long budget is not mistaken for a plateau.
        num_batches: batches :math:`B` of the window (>= 4).
        confidence: confidence :math:`1 - \alpha` of the interval on the change.
        min_steps: never stop before this many steps (default: ``min_window``).
        check_every: steps between checks (default: the larger of ``ceil(num_steps / 50)``,
            the default chunk size, and the fit's ``chunk_size``). Checks fall on multiples of
            it and a chunk never runs past one, so a resumed fit stops where the uninterrupted
            one did, and chunk sizes up to the default give the same fit.
        budget: the fit's ``num_steps`` :math:`N` (set by ``pa.fit``); ``None``: the horizon is
            one window.

    """

    tol: float = 0.05
    window_fraction: float = 0.25
    min_window: int | None = None
    num_batches: int = 10
    confidence: float = 0.95
    min_steps: int = 0
    check_every: int | None = None
    budget: int | None = None

    def __post_init__(self) -> None:
        check_positive(_OWNER, "tol", self.tol)
        check_positive(_OWNER, "window_fraction", self.window_fraction)
        if self.window_fraction > 1:
            raise ValueError(
                f"{_OWNER}(window_fraction=...) must be <= 1; got {self.window_fraction!r}."
            )
        check_int(_OWNER, "num_batches", self.num_batches, minimum=4)
        check_int(_OWNER, "min_steps", self.min_steps, minimum=0)
        if self.min_window is not None:
            check_int(_OWNER, "min_window", self.min_window, minimum=self.num_batches)
        if self.check_every is not None:
            check_int(_OWNER, "check_every", self.check_every)
        conf = check_positive(_OWNER, "confidence", self.confidence)
        if conf >= 1:
            raise ValueError(f"{_OWNER}(confidence=...) must be in (0, 1); got {conf!r}.")

    def for_budget(self, num_steps: int, chunk_size: int = 1) -> ConvergenceRule:
        """The rule with ``min_window`` and ``check_every`` resolved for a fit."""
        min_window = self.min_window or max(100, num_steps // 20)
        check_every = self.check_every or max(math.ceil(num_steps / 50), chunk_size)
        return replace(self, min_window=min_window, check_every=check_every, budget=num_steps)

    def checkpoints(self, upto: int, num_steps: int) -> list[int]:
        """Check points ``<= upto``: multiples of ``check_every``, and ``num_steps`` itself."""
        every = self.check_every or max(1, math.ceil(num_steps / 50))
        points = list(range(every, upto + 1, every))
        if upto >= num_steps and (not points or points[-1] != num_steps):
            points.append(num_steps)
        return points

    def window(self, t: int) -> int:
        """Window length at step ``t`` (a multiple of ``num_batches``)."""
        w = max(self.min_window or 100, int(self.window_fraction * t))
        return w - w % self.num_batches

    def change_bound(self, losses: np.ndarray) -> float:
        """Upper confidence bound on ``|change|`` of the loss over the horizon.

        ``inf`` when there are too few steps, or too few finite ones.
        """
        t = len(losses)
        w = self.window(t)
        if t < max(w, self.min_steps):
            return math.inf
        y = np.asarray(losses[t - w :], dtype=float).reshape(self.num_batches, -1)
        ok = np.isfinite(y)
        if ok.mean() < 0.9 or not ok.any(axis=1).all():
            return math.inf
        means = np.where(ok, y, 0.0).sum(axis=1) / ok.sum(axis=1)
        size = w // self.num_batches
        x = (np.arange(self.num_batches) + 0.5) * size
        xc = x - x.mean()
        sxx = float(np.sum(xc**2))
        slope = float(np.sum(xc * (means - means.mean())) / sxx)
        resid = means - means.mean() - slope * xc
        dof = self.num_batches - 2
        se = math.sqrt(float(np.sum(resid**2)) / dof / sxx)
        q = _t_quantile(self.confidence, dof)
        horizon = max(w, (self.budget or 0) - t)
        return (abs(slope) + q * se) * horizon

    def converged(self, losses: np.ndarray) -> bool:
        """Whether the trace ``losses`` (all steps so far) has settled."""
        return self.change_bound(losses) < self.tol

    def first_stop(self, losses: np.ndarray, checkpoints: np.ndarray) -> int | None:
        """The first step count in ``checkpoints`` at which the rule fires, else ``None``."""
        for t in checkpoints:
            if self.converged(losses[: int(t)]):
                return int(t)
        return None


def warn_not_converged(num_steps: int, rule: ConvergenceRule, bound: float) -> None:
    """Warn that a fit hit its step cap first."""
    change = "unknown" if not math.isfinite(bound) else f"up to {bound:.3g}"
    warnings.warn(
        f"probapprox.fit: the loss had not settled after num_steps={num_steps} (its change over "
        f"the next window is {change} nats; tol={rule.tol}). Raise num_steps, or check the "
        "loss trace (result.losses); a noisy estimator (e.g. Trace_ELBO) needs more steps to "
        "certify a plateau than the sticking-the-landing PathELBO.",
        ConvergenceWarning,
        stacklevel=3,
    )
