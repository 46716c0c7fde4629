r"""Base distributions of a flow: standard normal, or Student-t with learned tails.

* ``NormalBase``: :math:`\varepsilon \sim \mathcal N(0, I_D)`.
* ``StudentTBase``: independent :math:`t_{\nu_j}(0, 1)` coordinates with per-dimension
  learnable degrees of freedom :math:`\nu_j = 1 + e^{\cdot}` (gTAF-style; the log scale
  lets Adam move ν by a fraction of itself per step).
  Draws are reparameterised in :math:`\nu` (implicit gamma gradients), and

  .. math::
      \log p(x) = \sum_j \log\Gamma(\tfrac{\nu_j+1}{2}) - \log\Gamma(\tfrac{\nu_j}{2})
        - \tfrac12\log(\nu_j\pi) - \tfrac{\nu_j+1}{2}\log(1 + x_j^2/\nu_j), \quad
      \partial_{x_j}\log p = -\frac{(\nu_j+1)\,x_j}{\nu_j + x_j^2}.

  With linear-tailed layers after it, the flow's marginals keep the base's tail index
  (Laszkiewicz et al. 2022), so heavy-tailed posteriors need this base.

Reference:
    Laszkiewicz, Lederer, Fischer (2022), "Marginal tail-adaptive normalizing flows", ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from probapprox.families.flows._bijection import Params
from probapprox.families.flows._init_rng import array_module

__all__ = ["NormalBase", "StudentTBase", "student_t_df"]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class NormalBase:
    """Standard normal on ``R^dim`` (no parameters)."""

    dim: int

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """No parameters."""
        del key, dtype
        return {}

    def sample(
        self, params: Params, key: jax.Array, shape: tuple[int, ...], dtype: Any
    ) -> jax.Array:
        """Draws of shape ``shape + (dim,)``."""
        del params
        return jax.random.normal(key, (*shape, self.dim), dtype)

    def log_prob(self, params: Params, x: jax.Array) -> jax.Array:
        """``Σ_j log N(x_j; 0, 1)``."""
        del params
        return -0.5 * jnp.sum(x**2, axis=-1) - 0.5 * self.dim * _LOG_2PI

    def score(self, params: Params, x: jax.Array) -> jax.Array:
        """``−x``."""
        del params
        return -x


def student_t_df(params: Params) -> jax.Array:
    """Per-dimension degrees of freedom ``ν = 1 + exp(raw) > 1``."""
    return 1.0 + jnp.exp(params["df"])


@dataclass(frozen=True)
class StudentTBase:
    """Independent standard Student-t coordinates with learnable ``ν_j``."""

    dim: int
    init_df: float = 30.0

    def init(self, key: jax.Array, dtype: Any) -> Params:
        """``ν_j = init_df`` for every coordinate."""
        raw = math.log(self.init_df - 1.0)
        return {"df": array_module(key).full((self.dim,), raw, dtype)}

    def sample(
        self, params: Params, key: jax.Array, shape: tuple[int, ...], dtype: Any
    ) -> jax.Array:
        """Reparameterised draws of shape ``shape + (dim,)``."""
        df = student_t_df(params).astype(dtype)
        return jax.random.t(key, jnp.broadcast_to(df, (*shape, self.dim)), dtype=dtype)

    def log_prob(self, params: Params, x: jax.Array) -> jax.Array:
        """``Σ_j log t_{ν_j}(x_j)``."""
        nu = student_t_df(params)
        lp = (
            gammaln(0.5 * (nu + 1.0))
            - gammaln(0.5 * nu)
            - 0.5 * jnp.log(nu * math.pi)
            - 0.5 * (nu + 1.0) * jnp.log1p(x**2 / nu)
        )
        return jnp.sum(lp, axis=-1)

    def score(self, params: Params, x: jax.Array) -> jax.Array:
        """``−(ν + 1) x / (ν + x²)``."""
        nu = student_t_df(params)
        return -(nu + 1.0) * x / (nu + x**2)
