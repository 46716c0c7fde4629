r"""Radial flow layer of Rezende & Mohamed (2015).

.. math::
    f(z) = z + \hat\beta\, h(\alpha, r)\,(z - z_0), \quad r = \|z - z_0\|,\;
    h = \frac{1}{\alpha + r},

    \log|\det \partial f/\partial z| = (D - 1)\log(1 + \hat\beta h)
        + \log\big(1 + \hat\beta h + \hat\beta h' r\big), \quad h' = -\frac{1}{(\alpha+r)^2},

with :math:`\alpha = \mathrm{softplus}(\cdot) > 0` and the paper's invertibility
reparameterisation :math:`\hat\beta = -\alpha + \mathrm{softplus}(\beta)`. The inverse is in
closed form (the radius solves a quadratic); the inverse Jacobian of
:math:`J = a I + c\, d d^\top` is a Sherman–Morrison update. Initialisation is the identity
(:math:`\hat\beta = 0`) with a random centre.

Reference:
    Rezende, Mohamed (2015), "Variational inference with normalizing flows", ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from probapprox.families.flows._bijection import Bijection, Params
from probapprox.families.flows._init_rng import array_module, normal

__all__ = ["Radial", "radial_alpha_beta"]

_SOFTPLUS_INV_ONE = math.log(math.e - 1.0)


def radial_alpha_beta(params: Params) -> tuple[jax.Array, jax.Array]:
    r"""``(α, β̂)`` with ``α > 0`` and ``β̂ > −α`` (the invertibility condition)."""
    alpha = jax.nn.softplus(params["alpha"])
    return alpha, -alpha + jax.nn.softplus(params["beta"])


def _radius(d: jax.Array) -> jax.Array:
    # differentiable at d = 0 (probability-zero point) without NaN gradients
    sq = d @ d
    safe = jnp.where(sq > 0, sq, 1.0)
    return jnp.where(sq > 0, jnp.sqrt(safe), 0.0)


@dataclass(frozen=True)
class Radial(Bijection):
    """Radial contraction/expansion around a learned centre ``z0`` on ``R^dim``."""

    dim: int
    init_scale: float = 1.0

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """``α = 1``, ``β̂ = 0`` (identity), ``z0 ~ N(0, init_scale² I)``."""
        z0 = self.init_scale * normal(key, (self.dim,), dtype)  # host for a concrete key
        one = array_module(key).asarray(_SOFTPLUS_INV_ONE, dtype)
        return {"z0": z0, "alpha": one, "beta": one}

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(f(x), log|det J|)``."""
        alpha, beta = radial_alpha_beta(params)
        d = x - params["z0"]
        r = _radius(d)
        bh = beta / (alpha + r)
        logdet = (self.dim - 1) * jnp.log1p(bh) + jnp.log1p(beta * alpha / (alpha + r) ** 2)
        return x + bh * d, logdet

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``‖y − z0‖ = r (1 + β̂/(α + r))`` is a quadratic in ``r``; then rescale."""
        alpha, beta = radial_alpha_beta(params)
        dy = y - params["z0"]
        ry = _radius(dy)
        p = alpha + beta - ry
        r = 0.5 * (-p + jnp.sqrt(p**2 + 4.0 * ry * alpha))
        return params["z0"] + dy / (1.0 + beta / (alpha + r))

    def inverse_vjp(self, params: Params, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        """``J = a I + c d dᵀ`` (symmetric): ``v J^{-1} = (v − c (v·d) d / (a + c r²)) / a``."""
        del y
        alpha, beta = radial_alpha_beta(params)
        d = x - params["z0"]
        r = _radius(d)
        a = 1.0 + beta / (alpha + r)
        safe_r = jnp.where(r > 0, r, 1.0)
        c = jnp.where(r > 0, -beta / ((alpha + r) ** 2 * safe_r), 0.0)
        return (v - c * (v @ d) * d / (a + c * r**2)) / a
