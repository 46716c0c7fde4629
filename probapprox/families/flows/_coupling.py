r"""Coupling layers (RealNVP-style): the first ``D // 2`` coordinates condition the rest.

With ``x = (x_a, x_b)`` and an MLP conditioner ``θ(x_a)``,

* affine: :math:`y_b = x_b \odot e^{s} + t`, :math:`s = c \tanh(\tilde s / c)` (log-scale
  bounded in ``(−c, c)``), :math:`\log|\det J| = \sum s`;
* spline: :math:`y_b = \mathrm{RQS}_{\theta(x_a)}(x_b)` with identity tails
  (:mod:`._spline`), :math:`\log|\det J| = \sum \log y_b'`.

``y_a = x_a``. Both invert in closed form. The conditioner's last layer starts at zero,
so a fresh layer is the identity. With ``D = 1`` the conditioner sees no input and the
layer is an unconditional elementwise transform. Alternate permutations between layers.

References:
    Dinh, Sohl-Dickstein, Bengio (2017), "Density estimation using Real NVP", ICLR;
    Durkan, Bekasov, Murray, Papamakarios (2019), "Neural spline flows", NeurIPS.

"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from probapprox.families.flows._bijection import Bijection, Params
from probapprox.families.flows._init_rng import array_module, normal, split
from probapprox.families.flows._spline import num_spline_params, spline_forward, spline_inverse

__all__ = ["AffineCoupling", "SplineCoupling", "mlp_init", "mlp_apply"]


def mlp_init(key: jax.Array, sizes: tuple[int, ...], dtype: Any) -> Params:
    """Weights ``W{i}``/``b{i}``; hidden layers scaled 1/√fan-in, the last layer zero."""
    params: Params = {}
    keys, xp = split(key, len(sizes) - 1), array_module(key)  # host arrays for a concrete key
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        scale = 0.0 if last else 1.0 / math.sqrt(max(n_in, 1))
        params[f"W{i}"] = scale * normal(keys[i], (n_in, n_out), dtype)
        params[f"b{i}"] = xp.zeros((n_out,), dtype)
    return params


def mlp_apply(params: Params, x: jax.Array) -> jax.Array:
    """``tanh`` MLP; the last layer is linear."""
    n = sum(1 for k in params if k.startswith("W"))
    for i in range(n):
        x = x @ params[f"W{i}"] + params[f"b{i}"]
        if i < n - 1:
            x = jnp.tanh(x)
    return x


@dataclass(frozen=True)
class _Coupling(Bijection):
    dim: int
    hidden: tuple[int, ...] = (32, 32)

    @property
    def split(self) -> int:
        return self.dim // 2

    def _out_per_coord(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """Conditioner MLP with a zero last layer (identity map)."""
        n_out = (self.dim - self.split) * self._out_per_coord()
        return mlp_init(key, (self.split, *self.hidden, n_out), dtype)

    def _theta(self, params: Params, x_a: jax.Array) -> jax.Array:
        out = mlp_apply(params, x_a)
        return out.reshape(self.dim - self.split, self._out_per_coord())

    def _transform(self, theta: jax.Array, x_b: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _untransform(self, theta: jax.Array, y_b: jax.Array) -> jax.Array:
        raise NotImplementedError  # pragma: no cover - abstract

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``((x_a, T(x_b; θ(x_a))), Σ log T')``."""
        x_a, x_b = x[: self.split], x[self.split :]
        y_b, logd = self._transform(self._theta(params, x_a), x_b)
        return jnp.concatenate([x_a, y_b]), jnp.sum(logd)

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``(y_a, T^{-1}(y_b; θ(y_a)))``."""
        y_a, y_b = y[: self.split], y[self.split :]
        return jnp.concatenate([y_a, self._untransform(self._theta(params, y_a), y_b)])


@dataclass(frozen=True)
class AffineCoupling(_Coupling):
    """Affine coupling with a tanh-bounded log-scale (``|s| < scale_bound``)."""

    scale_bound: float = 4.0

    def _out_per_coord(self) -> int:
        return 2

    def _log_scale(self, theta: jax.Array) -> jax.Array:
        return self.scale_bound * jnp.tanh(theta[:, 0] / self.scale_bound)

    def _transform(self, theta: jax.Array, x_b: jax.Array) -> tuple[jax.Array, jax.Array]:
        s = self._log_scale(theta)
        return x_b * jnp.exp(s) + theta[:, 1], s

    def _untransform(self, theta: jax.Array, y_b: jax.Array) -> jax.Array:
        return (y_b - theta[:, 1]) * jnp.exp(-self._log_scale(theta))


@dataclass(frozen=True)
class SplineCoupling(_Coupling):
    """Rational-quadratic spline coupling on ``[-bound, bound]`` with identity tails."""

    num_bins: int = 8
    bound: float = 5.0

    def _out_per_coord(self) -> int:
        return num_spline_params(self.num_bins)

    def _transform(self, theta: jax.Array, x_b: jax.Array) -> tuple[jax.Array, jax.Array]:
        return spline_forward(theta, x_b, self.bound)

    def _untransform(self, theta: jax.Array, y_b: jax.Array) -> jax.Array:
        return spline_inverse(theta, y_b, self.bound)
