"""Resolve the :class:`~probapprox.guides.FitHooks` of a guide, loss and optimiser, with defaults.

The one place where ``fit`` asks a guide, its loss or its optimiser for an optional member:
:func:`hook` returns the member when the object defines it and the documented default
otherwise. The defaults for NumPyro's own autoguides (which cannot be given methods) live here:

* loss: the sticking-the-landing :class:`~probapprox.estimators.PathELBO` for the
  reparameterised Gaussian autoguides, whose gradient noise vanishes as q approaches the
  posterior (so the final iterate lands on the optimum instead of jittering around it);
  ``Trace_ELBO`` for other guides;
* optimiser: Adam with a step size decaying (cosine) from ``2e-2`` to ``2e-4`` over the run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optax
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from numpyro.optim import optax_to_numpyro

from probapprox.estimators import PathELBO
from probapprox.guides import AutoLaplace

__all__ = ["DEFAULT_LEARNING_RATE", "hook", "settles", "schedule_steps"]

DEFAULT_LEARNING_RATE = 2e-2

_PATH_GRADIENT_GUIDES = (
    AutoNormal,
    AutoDiagonalNormal,
    AutoMultivariateNormal,
    AutoLowRankMultivariateNormal,
)


def _default_loss(guide: Any) -> Callable[[int], Any]:
    path = isinstance(guide, _PATH_GRADIENT_GUIDES)
    return lambda num_steps: PathELBO() if path else Trace_ELBO()


def _default_optimizer(guide: Any) -> Callable[[int], Any]:
    del guide

    def adam(num_steps: int) -> Any:
        schedule = optax.cosine_decay_schedule(
            DEFAULT_LEARNING_RATE, decay_steps=max(num_steps, 1), alpha=1e-2
        )
        return optax_to_numpyro(optax.adam(schedule))

    return adam


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _default_init_scale(guide: Any) -> float:
    value = getattr(guide, "_init_scale", None)  # NumPyro's autoguides
    return float(value) if _positive(value) else 0.1


def _with_optional_steps(pick: Callable) -> Callable[[int], Any]:
    """``default_loss`` hooks may take the step budget or nothing."""
    try:
        takes_steps = bool(inspect.signature(pick).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        takes_steps = False
    return pick if takes_steps else (lambda num_steps: pick())


# name -> (is a method, default member built from the object)
_DEFAULTS: dict[str, tuple[bool, Callable[[Any], Any]]] = {
    "default_loss": (True, _default_loss),
    "default_optimizer": (True, _default_optimizer),
    "whitener": (True, lambda guide: None),  # None: _whiten's table for NumPyro's autoguides
    "post_fit": (True, lambda guide: None),  # None: the parameters are kept as they are
    "paired_loss": (True, lambda optim: None),
    "init_scale": (False, _default_init_scale),
    "uses_step": (False, lambda loss: False),
    "path_warmup": (False, lambda loss: None),
    "anneal_steps": (False, lambda loss: None),
    "stick_the_landing": (False, lambda loss: isinstance(loss, PathELBO)),
}


def hook(obj: Any, name: str) -> Any:
    """The :class:`~probapprox.guides.FitHooks` member ``name`` of ``obj``, or its default.

    Method hooks come back callable (or ``None`` where the default is to do nothing);
    attribute hooks come back as values. An attribute that is present but unusable (a
    non-callable method hook, a non-positive ``init_scale``) counts as missing.
    """
    method, default = _DEFAULTS[name]
    value = getattr(obj, name, None)
    if method:
        if not callable(value):
            return default(obj)
        return _with_optional_steps(value) if name == "default_loss" else value
    if name == "init_scale":  # NumPyro's own _init_scale, the value it starts with, wins
        own = getattr(obj, "_init_scale", None)
        return float(value) if _positive(value) and not _positive(own) else default(obj)
    return default(obj) if value is None else value


def schedule_steps(loss: Any) -> int:
    """Steps of the loss's own schedules (warm-up, tempering): the rule waits for them."""
    return max(hook(loss, "path_warmup") or 0, hook(loss, "anneal_steps") or 0)


def settles(loss: Any, guide: Any) -> bool:
    """Whether the gradient noise vanishes at the optimum, so an early stop loses nothing.

    True for the sticking-the-landing estimators and for point-mass guides (a MAP search).
    With other estimators (``Trace_ELBO`` on a stochastic guide) the iterate keeps jittering
    at the scale of the step size, and only the decaying step size of the full run settles it.
    """
    return bool(hook(loss, "stick_the_landing")) or isinstance(guide, AutoDelta | AutoLaplace)
