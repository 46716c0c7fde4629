"""Default estimator and optimiser for a guide.

A guide may choose its own by defining ``default_loss(num_steps)`` and/or
``default_optimizer(num_steps)`` (probapprox's families do). Otherwise:

* NumPyro's reparameterised Gaussian autoguides get the sticking-the-landing
  estimator :class:`~probapprox.estimators.PathELBO`, whose gradient noise
  vanishes as q approaches the posterior, so the final iterate lands on the
  optimum instead of jittering around it; other guides get ``Trace_ELBO``.
* Adam with a step size decaying (cosine) from ``2e-2`` to ``2e-4`` over the run.
"""

from __future__ import annotations

import inspect
from typing import Any

import optax
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import (
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from numpyro.optim import optax_to_numpyro

from probapprox.estimators import PathELBO

__all__ = ["default_loss", "default_optimizer", "DEFAULT_LEARNING_RATE"]

DEFAULT_LEARNING_RATE = 2e-2

_PATH_GRADIENT_GUIDES = (
    AutoNormal,
    AutoDiagonalNormal,
    AutoMultivariateNormal,
    AutoLowRankMultivariateNormal,
)


def default_loss(guide: Any, num_steps: int) -> Any:
    """The guide's preferred ELBO estimator, else ``PathELBO`` or ``Trace_ELBO``."""
    pick = getattr(guide, "default_loss", None)
    if callable(pick):
        try:
            takes_steps = bool(inspect.signature(pick).parameters)
        except (TypeError, ValueError):  # builtins without a signature
            takes_steps = False
        return pick(num_steps) if takes_steps else pick()
    return PathELBO() if isinstance(guide, _PATH_GRADIENT_GUIDES) else Trace_ELBO()


def default_optimizer(guide: Any, num_steps: int) -> Any:
    """The guide's preferred optimiser, else Adam with a cosine-decayed step size."""
    pick = getattr(guide, "default_optimizer", None)
    if callable(pick):
        return pick(num_steps)
    schedule = optax.cosine_decay_schedule(
        DEFAULT_LEARNING_RATE, decay_steps=max(num_steps, 1), alpha=1e-2
    )
    return optax_to_numpyro(optax.adam(schedule))
