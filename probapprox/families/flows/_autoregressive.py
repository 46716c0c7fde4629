r"""Masked autoregressive layers (MAF / IAF direction): a MADE conditioner and a transformer.

.. math::
    y_d = \tau\big(x_d;\ \theta_d(x_{<d})\big), \qquad
    \log|\det J| = \sum_d \log \tau'(x_d; \theta_d),

with :math:`\theta` from :mod:`._made`. The forward map (the *sampling* direction of the
guide, as in IAF: Kingma et al. 2016) is one network pass, so draws and the log-density of
the guide's own draws cost one pass per layer; the inverse needs ``D`` passes (each fixes one
more coordinate) and is only used for ``log q`` at other points.

Transformers:

* affine: :math:`\tau(x) = x\,e^{s} + t`, :math:`s = c\tanh(\tilde s/c)` bounded as in the
  affine coupling;
* rational-quadratic spline on ``[-bound, bound]`` with identity tails (Durkan et al. 2019;
  the same :func:`._spline.spline_forward` as the spline coupling).

The Jacobian is lower triangular, so the score step :math:`v J^{-1}` is one triangular solve
with the dense Jacobian (``D`` forward-mode passes, batched) instead of the ``D``-pass inverse.

References:
    Papamakarios, Pavlakou, Murray (2017), "Masked autoregressive flow for density
    estimation", NeurIPS; Kingma et al. (2016), "Improved variational inference with inverse
    autoregressive flow", NeurIPS; Durkan et al. (2019), "Neural spline flows", NeurIPS.

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from probapprox.families.flows._bijection import Bijection, Params
from probapprox.families.flows._made import made_apply, made_init, made_masks
from probapprox.families.flows._spline import num_spline_params, spline_forward, spline_inverse

__all__ = ["MaskedAffine", "MaskedSpline"]


@dataclass(frozen=True)
class _Masked(Bijection):
    dim: int
    hidden: tuple[int, ...] = (32, 32)
    skip: bool = True

    def _out_per_coord(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _masks(self) -> tuple:
        return made_masks(self.dim, self.hidden, self._out_per_coord())

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """MADE with a zero output layer and skip (identity map)."""
        return made_init(key, self.dim, self.hidden, self._out_per_coord(), dtype, skip=self.skip)

    def _theta(self, params: Params, x: jax.Array) -> jax.Array:
        return made_apply(params, self._masks(), x, self._out_per_coord())

    def _transform(self, theta: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _untransform(self, theta: jax.Array, y: jax.Array) -> jax.Array:
        raise NotImplementedError  # pragma: no cover - abstract

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(τ(x; θ(x)), Σ log τ')``: one conditioner pass."""
        y, logd = self._transform(self._theta(params, x), x)
        return y, jnp.sum(logd)

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``D`` passes; after pass ``d`` the coordinates ``≤ d`` are exact."""

        def body(_: int, x: jax.Array) -> jax.Array:
            return self._untransform(self._theta(params, x), y)

        return jax.lax.fori_loop(0, self.dim, body, jnp.zeros_like(y))

    def inverse_vjp(self, params: Params, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        """``v J(x)^{-1}`` by a triangular solve with the dense (lower) Jacobian at ``x``."""
        del y
        jac = jax.jacfwd(lambda t: self.forward(params, t)[0])(x)
        return solve_triangular(jac, v, trans="T", lower=True)


@dataclass(frozen=True)
class MaskedAffine(_Masked):
    """Masked autoregressive affine layer, log-scale bounded in ``(−scale_bound, scale_bound)``."""

    scale_bound: float = 4.0

    def _out_per_coord(self) -> int:
        return 2

    def _log_scale(self, theta: jax.Array) -> jax.Array:
        return self.scale_bound * jnp.tanh(theta[:, 0] / self.scale_bound)

    def _transform(self, theta: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        s = self._log_scale(theta)
        return x * jnp.exp(s) + theta[:, 1], s

    def _untransform(self, theta: jax.Array, y: jax.Array) -> jax.Array:
        return (y - theta[:, 1]) * jnp.exp(-self._log_scale(theta))


@dataclass(frozen=True)
class MaskedSpline(_Masked):
    """Masked autoregressive rational-quadratic spline on ``[-bound, bound]``."""

    num_bins: int = 8
    bound: float = 5.0

    def _out_per_coord(self) -> int:
        return num_spline_params(self.num_bins)

    def _transform(self, theta: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return spline_forward(theta, x, self.bound)

    def _untransform(self, theta: jax.Array, y: jax.Array) -> jax.Array:
        return spline_inverse(theta, y, self.bound)
