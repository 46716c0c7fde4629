"""Argument checks and option resolution for :func:`probapprox.fit`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import optax
from numpyro import handlers
from numpyro.infer.autoguide import AutoDelta
from numpyro.optim import _NumPyroOptim, optax_to_numpyro

from probapprox._checks import check_choice, check_int
from probapprox.estimators import PathELBO
from probapprox.guides import AutoLaplace
from probapprox.infer._converge import ConvergenceRule

__all__ = [
    "as_optimizer",
    "check_continuous",
    "check_options",
    "settles",
    "stop_note",
    "stopping_rule",
]

_OWNER = "probapprox.fit"


def check_continuous(model: Callable, args: tuple, kwargs: dict) -> None:
    """Name discrete latent sites before NumPyro's enumeration machinery gets confusing."""
    try:
        tr = handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs)
    except Exception:  # noqa: BLE001 - e.g. improper sites that cannot be sampled; numpyro checks
        return
    discrete = [
        f"'{n}' ({type(s['fn']).__name__})"
        for n, s in tr.items()
        if s["type"] == "sample"
        and not s["is_observed"]
        and getattr(s["fn"], "support", None) is not None
        and s["fn"].support.is_discrete
    ]
    if discrete:
        raise ValueError(
            f"Model site {', '.join(discrete)} is a discrete latent variable; the guides fitted "
            "by probapprox.fit need continuous latent sites. Marginalise it out in the model "
            "(e.g. sum over its values with a log-sum-exp in numpyro.factor) or observe it."
        )


def as_optimizer(optimizer: Any) -> Any:
    if isinstance(optimizer, optax.GradientTransformation):
        return optax_to_numpyro(optimizer)
    if isinstance(optimizer, _NumPyroOptim) or hasattr(optimizer, "eval_and_update"):
        return optimizer
    raise TypeError(
        "probapprox.fit(optimizer=...) expects a numpyro.optim optimizer or an optax "
        f"GradientTransformation; got {type(optimizer).__name__}."
    )


def stopping_rule(early_stop: Any, num_steps: int, chunk_size: int, loss: Any) -> ConvergenceRule:
    """The stopping rule, never firing before the loss's own schedules have ended."""
    if isinstance(early_stop, ConvergenceRule):
        rule = early_stop
    elif isinstance(early_stop, bool):
        rule = ConvergenceRule()
    else:
        raise TypeError(
            "probapprox.fit(early_stop=...) expects True, False or a "
            f"probapprox.ConvergenceRule; got {early_stop!r}."
        )
    schedules = (getattr(loss, "path_warmup", None), getattr(loss, "anneal_steps", None))
    schedule = max(s or 0 for s in schedules)
    if schedule > rule.min_steps:
        rule = replace(rule, min_steps=schedule)
    return rule.for_budget(num_steps, chunk_size)


def check_options(warm_start: Any, num_starts: Any, multi_start: Any, dense_max: Any) -> int:
    if not isinstance(warm_start, bool):
        raise TypeError(
            f"probapprox.fit(warm_start=...) expects True or False; got {warm_start!r}."
        )
    check_choice(_OWNER, "multi_start", multi_start, ("best", "stack"))
    check_int(_OWNER, "dense_max", dense_max)
    return check_int(_OWNER, "num_starts", num_starts)


def settles(loss: Any, guide: Any) -> bool:
    """Whether the gradient noise vanishes at the optimum, so an early stop loses nothing.

    True for the sticking-the-landing estimators and for point-mass guides (a MAP search).
    With other estimators (``Trace_ELBO`` on a stochastic guide) the iterate keeps jittering
    at the scale of the step size, and only the decaying step size of the full run settles it.
    """
    if isinstance(loss, PathELBO) or getattr(loss, "stick_the_landing", False):
        return True
    return isinstance(guide, AutoDelta | AutoLaplace)


def stop_note(early_stop: Any, loss: Any, *, stops: bool) -> str:
    """``info["early_stop"]``: whether the fit could stop early, and why not."""
    if stops:
        return "on"
    if early_stop is False:
        return "off"
    return (
        f"off: {type(loss).__name__}'s gradient noise does not vanish at the optimum, so the fit "
        "runs to num_steps for the decaying step size to settle it (converged_at is reported)"
    )
