r"""Planar flow layer of Rezende & Mohamed (2015).

.. math::
    f(z) = z + \hat u\, \tanh(w^\top z + b), \qquad
    \log|\det \partial f/\partial z| = \log\big(1 + \tanh'(w^\top z + b)\, w^\top \hat u\big),

with the paper's reparameterisation (App. A.1) that keeps the map invertible,

.. math::
    \hat u = u + \big[m(w^\top u) - w^\top u\big] \frac{w}{\|w\|^2}, \qquad
    m(x) = \mathrm{softplus}(x) - 1 + \delta, \quad\text{so } w^\top \hat u > -1 + \delta.

The margin :math:`\delta = 10^{-4}` (ours) keeps the map strictly invertible in floating
point: with the paper's :math:`\delta = 0`, :math:`w^\top u \ll 0` rounds to
:math:`w^\top\hat u = -1` and a singular layer.

The inverse is a 1-D monotone root-find along ``w`` (bisection on a bracket of width
``2|w^\top\hat u|``, then one Newton step that is differentiable, so the inverse has the
implicit-function gradients). The inverse Jacobian is a Sherman–Morrison update.
Initialisation puts ``w^\top u = m^{-1}(0)`` so ``\hat u ⊥ w`` is small: a near-identity shear.

Reference:
    Rezende, Mohamed (2015), "Variational inference with normalizing flows", ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from probapprox.families.flows._bijection import Bijection, Params
from probapprox.families.flows._init_rng import array_module, normal, split

__all__ = ["DELTA", "Planar", "planar_u_hat"]

DELTA = 1e-4
_M_INV_ZERO = math.log(math.expm1(1.0 - DELTA))  # m(x) = 0
_BISECTIONS = 60


def planar_u_hat(params: Params) -> tuple[jax.Array, jax.Array]:
    r"""``(û, m)``: the constrained direction and :math:`m = w^\top\hat u > -1 + \delta`."""
    u, w = params["u"], params["w"]
    wu = w @ u
    m = jax.nn.softplus(wu) - 1.0 + DELTA
    return u + (m - wu) * w / (w @ w), m


@dataclass(frozen=True)
class Planar(Bijection):
    """Planar layer ``z + û tanh(wᵀz + b)`` on ``R^dim`` (no closed-form inverse)."""

    dim: int
    init_scale: float = 0.01

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """``w`` random of norm ~1, ``û`` a small vector orthogonal to ``w``, ``b = 0``."""
        (k_w, k_u), xp = split(key, 2), array_module(key)  # host arrays for a concrete key
        w = normal(k_w, (self.dim,), dtype) / math.sqrt(self.dim)
        w = xp.where(xp.linalg.norm(w) > 1e-3, w, xp.ones_like(w) / math.sqrt(self.dim))
        noise = self.init_scale * normal(k_u, (self.dim,), dtype)
        ortho = noise - (noise @ w) * w / (w @ w)
        u = ortho + _M_INV_ZERO * w / (w @ w)
        return {"u": u, "w": w, "b": xp.zeros((), dtype)}

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(f(x), log(1 + tanh'(a) wᵀû))`` with ``a = wᵀx + b``."""
        (u_hat, m), w = planar_u_hat(params), params["w"]
        t = jnp.tanh(w @ x + params["b"])
        return x + u_hat * t, jnp.log1p((1.0 - t**2) * m)

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """Solve ``a + m tanh(a) = wᵀy + b`` for ``a`` (monotone), then ``x = y − û tanh(a)``."""
        (u_hat, m), w = planar_u_hat(params), params["w"]
        c = w @ y + params["b"]

        def phi(a: jax.Array) -> jax.Array:
            return a + m * jnp.tanh(a) - c

        def bisect(_: int, bracket: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
            lo, hi = bracket
            mid = 0.5 * (lo + hi)
            below = phi(mid) < 0
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        width = jnp.abs(m) + 1.0
        lo, hi = lax.fori_loop(0, _BISECTIONS, bisect, lax.stop_gradient((c - width, c + width)))
        a0 = lax.stop_gradient(0.5 * (lo + hi))
        a = a0 - phi(a0) / (1.0 + m * (1.0 - jnp.tanh(a0) ** 2))  # implicit gradients
        return y - u_hat * jnp.tanh(a)

    def inverse_vjp(self, params: Params, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        """Sherman–Morrison: ``v (I + û ψᵀ)^{-1} = v − (v·û) ψ / (1 + ψ·û)``, ψ = tanh'(a) w."""
        del y
        (u_hat, m), w = planar_u_hat(params), params["w"]
        dh = 1.0 - jnp.tanh(w @ x + params["b"]) ** 2
        return v - (v @ u_hat) * dh * w / (1.0 + dh * m)
