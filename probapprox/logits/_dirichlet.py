r"""Dirichlet moment matching for normalised elementwise links (Mucsányi et al. 2025, §2.2).

With :math:`g = \Phi` (``link="probit"``) or :math:`g = \sigma` (``link="sigmoid"``) and
per-class moments :math:`M_{1,c} = \mathbb E[g(z_c)]`, :math:`M_{2,c} = \mathbb E[g(z_c)^2]`:

.. math::
    S = \max\Big(\sum_c M_{1,c},\, 1\Big), \qquad
    \log P = \frac1C \sum_c \log
        \frac{M_{1,c} S - M_{2,c}}{M_{2,c} - M_{1,c}^2}, \qquad
    \alpha_c = P\, M_{1,c} / S .

The Dirichlet mean :math:`\alpha/\sum\alpha = M_1/\sum M_1` is exactly the normalised
``"probit"``/``"sigmoid"`` predictive. Only the concentration :math:`\sum\alpha` carries
the extra (second-moment) information.

Numerics: both sides of the ratio are written as sums of positive terms and combined in
log space, so there is no cancellation:

.. math::
    M_1 S - M_2 = M_1 (S - 1) + \mathbb E[g(1-g)], \qquad
    M_2 - M_1^2 = \mathrm{Var}[g],

with :math:`\mathbb E[\Phi(1-\Phi)] = 2T(a, b)` and
:math:`\mathrm{Var}[\Phi] = 2[T(a, 1) - T(a, b)]`, both integrals of a positive function
(see :mod:`probapprox.logits._gaussian_expectations`). For the sigmoid link, both terms
come from the :math:`\sigma(x) \approx \Phi(\sqrt{\lambda_0}x)` approximation, while
:math:`M_1` is :func:`~probapprox.logits.expected_sigmoid`. Each ratio is clamped to
:math:`[10^{-10}, 10^{10}]`. The lower clamp is the reference implementation's; the upper
one keeps α finite as σ² → 0, where the exact concentration is infinite, and caps the
concentration at about 1e10. Only the diagonal of a full covariance is used.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from probapprox.logits._gaussian_expectations import (
    LAMBDA0,
    log_expected_normcdf,
    log_expected_sigmoid,
    log_variance_normcdf,
)
from probapprox.logits._owens_t import log_owens_integral

__all__ = ["LINKS", "dirichlet_log_alpha", "log_first_moment"]

LINKS = ("probit", "sigmoid")
_LOG_CLAMP = math.log(1e10)


def log_first_moment(mean: jax.Array, var: jax.Array, link: str) -> jax.Array:
    """``log E[g(z_c)]`` for ``link`` in :data:`LINKS` (exact for probit, approx. for sigmoid)."""
    if link == "probit":
        return log_expected_normcdf(mean, var)
    return log_expected_sigmoid(mean, var)


@partial(jax.jit, static_argnames=("link",))
def dirichlet_log_alpha(mean: jax.Array, var: jax.Array, link: str) -> jax.Array:
    """Log concentrations ``log α (..., C)`` of the moment-matched Dirichlet (module docstring)."""
    scale = 1.0 if link == "probit" else LAMBDA0
    log_m1 = log_first_moment(mean, var, link)
    a = mean / jnp.sqrt(1.0 / scale + var)
    b = jax.lax.rsqrt(1.0 + 2.0 * scale * var)
    log_g_one_minus_g = math.log(2.0) + log_owens_integral(a, jnp.zeros_like(b), b)
    log_var = log_variance_normcdf(mean, var, scale)
    total = jnp.sum(jnp.exp(log_m1), axis=-1, keepdims=True)
    log_s = jnp.log(jnp.maximum(total, 1.0))
    log_s_minus_one = jnp.log(jnp.maximum(total - 1.0, 0.0))
    log_num = jnp.logaddexp(log_m1 + log_s_minus_one, log_g_one_minus_g)
    log_ratio = jnp.clip(log_num - log_var, -_LOG_CLAMP, _LOG_CLAMP)
    log_p = jnp.mean(log_ratio, axis=-1, keepdims=True)
    return log_p + log_m1 - log_s
