r"""Grid search of the prior precision on validation NLL of the mean-field predictive.

The mean-field (a.k.a. laplace-torch "probit") approximation of the predictive is
:math:`p(y = c \mid x) \approx \operatorname{softmax}_c\big(\mu / \sqrt{1 + \tfrac\pi8
\operatorname{diag}\Sigma}\big)` (sigmoid for one logit); MacKay (1992), Daxberger et al. (2021).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.logits import LAMBDA0

__all__ = ["mean_field_nll", "grid_search"]


def mean_field_nll(mean: Array, cov: Array, y: Array, likelihood: str) -> Array:
    """Summed NLL of the mean-field predictive; ``mean`` ``(N, C)``, ``cov`` ``(N, C, C)``."""
    var = jnp.diagonal(cov, axis1=-2, axis2=-1)
    z = mean / jnp.sqrt(1.0 + LAMBDA0 * var)
    if likelihood == "categorical":
        logp = jax.nn.log_softmax(z, axis=-1)
        return -jnp.sum(jnp.take_along_axis(logp, y[:, None], axis=-1))
    yf = y.astype(z.dtype)
    return jnp.sum(jax.nn.softplus(z[:, 0]) - yf * z[:, 0])


def grid_search(loss: Callable[[Array], Array], grid: Array) -> tuple[Array, Array]:
    """Evaluate ``loss(delta)`` on each grid row; return the argmin row and all losses."""
    losses = jax.lax.map(loss, grid)
    losses = jnp.where(jnp.isfinite(losses), losses, jnp.inf)
    return grid[jnp.argmin(losses)], losses
