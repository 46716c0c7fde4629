r"""Parameter-light layers: an elementwise affine map and a fixed permutation.

* ``ElementwiseAffine``: :math:`y = \mu + e^{\lambda} \odot x`,
  :math:`\log|\det J| = \sum \lambda`. Over a standard base it is the paper's
  :math:`q_0 = \mathcal N(\mu, \mathrm{diag}\, e^{2\lambda})`.
* ``TriangularAffine``: :math:`y = \mu + L x`, :math:`L = \mathrm{diag}(e^{\lambda}) +
  \mathrm{strict\_lower}(T)`, :math:`\log|\det J| = \sum \lambda`. As every flow's last
  layer it is a full-rank Gaussian's factor, so a flow whose other layers are the identity is
  :math:`\mathcal N(\mu, LL^\top)` (the warm start's whitened Laplace Gaussian, in ``pa.fit``).
* ``FixedAffine``: :math:`y = s + C x` with a given shift and a lower-triangular (or
  diagonal) factor :math:`C`, :math:`\log|\det J| = \sum \log C_{ii}`. Not a trainable
  layer: ``pa.fit`` appends it while it fits a flow in whitened coordinates (shift and factor
  from the warm start), which costs :math:`O(D^2)` per draw instead of the :math:`O(D^3)`
  product :math:`C L` per step.
* ``Permute``: :math:`y = x_{\pi}`, volume preserving; mixes coordinates between couplings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from probapprox.families.flows._bijection import Bijection, Params
from probapprox.families.flows._init_rng import array_module

__all__ = [
    "ElementwiseAffine",
    "FixedAffine",
    "Permute",
    "TriangularAffine",
    "default_permutation",
]


@dataclass(frozen=True)
class ElementwiseAffine(Bijection):
    """``y = loc + exp(log_scale) * x``."""

    dim: int

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """Identity: ``loc = 0``, ``log_scale = 0``."""
        xp = array_module(key)  # host arrays for a concrete key
        return {"loc": xp.zeros((self.dim,), dtype), "log_scale": xp.zeros((self.dim,), dtype)}

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(loc + e^λ x, Σ λ)``."""
        return params["loc"] + jnp.exp(params["log_scale"]) * x, jnp.sum(params["log_scale"])

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``(y − loc) e^{−λ}``."""
        return (y - params["loc"]) * jnp.exp(-params["log_scale"])

    def inverse_vjp(self, params: Params, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        """``v e^{−λ}``."""
        del x, y
        return v * jnp.exp(-params["log_scale"])


def triangular_factor(params: Params) -> jax.Array:
    """``L = diag(exp(log_scale)) + strict_lower(tril)``."""
    return jnp.diag(jnp.exp(params["log_scale"])) + jnp.tril(params["tril"], -1)


@dataclass(frozen=True)
class TriangularAffine(Bijection):
    """``y = loc + L x`` with ``L`` lower triangular, positive diagonal."""

    dim: int

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """Identity: ``loc = 0``, ``log_scale = 0``, ``tril = 0``."""
        xp = array_module(key)  # host arrays for a concrete key
        zeros = xp.zeros((self.dim,), dtype)
        return {"loc": zeros, "log_scale": zeros, "tril": xp.zeros((self.dim, self.dim), dtype)}

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(loc + L x, Σ λ)``."""
        return params["loc"] + triangular_factor(params) @ x, jnp.sum(params["log_scale"])

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``L^{-1}(y − loc)`` (triangular solve)."""
        return solve_triangular(triangular_factor(params), y - params["loc"], lower=True)

    def inverse_vjp(self, params: Params, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        """``v L^{-1}``."""
        del x, y
        return solve_triangular(triangular_factor(params), v, trans="T", lower=True)


@dataclass(frozen=True)
class FixedAffine(Bijection):
    """``y = shift + C x``, ``C`` lower triangular (``dense``) or a vector; not learned.

    Its parameters ``{"shift", "factor"}`` are given: ``C`` has a positive diagonal.
    """

    dim: int
    dense: bool = True

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """Identity: ``shift = 0``, ``factor = I`` (or ones)."""
        xp = array_module(key)
        factor = xp.eye(self.dim, dtype=dtype) if self.dense else xp.ones((self.dim,), dtype)
        return {"shift": xp.zeros((self.dim,), dtype), "factor": factor}

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(shift + C x, Σ log C_ii)``."""
        c = params["factor"]
        if self.dense:
            return params["shift"] + c @ x, jnp.sum(jnp.log(jnp.diagonal(c)))
        return params["shift"] + c * x, jnp.sum(jnp.log(c))

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``C^{-1}(y − shift)``."""
        c, r = params["factor"], y - params["shift"]
        return solve_triangular(c, r, lower=True) if self.dense else r / c

    def inverse_vjp(self, params: Params, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        """``v C^{-1}``."""
        del x, y
        c = params["factor"]
        return solve_triangular(c, v, trans="T", lower=True) if self.dense else v / c


def default_permutation(dim: int, index: int) -> tuple[int, ...]:
    """Reversal for ``dim ≤ 2``, else a fixed pseudo-random permutation per layer index."""
    if dim <= 2:
        return tuple(range(dim))[::-1]
    perm = np.random.default_rng(index).permutation(dim)
    return tuple(int(i) for i in perm)


@dataclass(frozen=True)
class Permute(Bijection):
    """``y = x[perm]`` for a fixed permutation (no parameters)."""

    perm: tuple[int, ...]

    @property
    def dim(self) -> int:  # type: ignore[override]
        """Dimension."""
        return len(self.perm)

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """No parameters."""
        del key, dtype
        return {}

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(x[perm], 0)``."""
        del params
        return x[jnp.asarray(self.perm)], jnp.zeros((), x.dtype)

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``y[argsort(perm)]``."""
        del params
        return y[jnp.asarray(np.argsort(self.perm))]
