"""NumPyro distribution of the low-rank-plus-isotropic-precision Gaussian (low-rank Laplace)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from probapprox.families.lowrank_precision import (
    lowrank_precision_log_prob,
    lowrank_precision_sample,
    lowrank_precision_var,
)

__all__ = ["LowRankPrecisionNormal"]


class LowRankPrecisionNormal(dist.Distribution):
    r"""Gaussian :math:`\mathcal N(m, P^{-1})` with a low-rank-plus-isotropic precision.

    :math:`P = Q\,\mathrm{diag}(\lambda)\,Q^\top + c(I - QQ^\top)`.

    Args:
        loc: Mean :math:`m`, shape ``(D,)``.
        evecs: Orthonormal :math:`Q`, shape ``(D, k)``.
        evals: Precisions :math:`\lambda > 0` along ``evecs``, shape ``(k,)``.
        rest: Precision :math:`c > 0` of the other directions (scalar).

    See :mod:`probapprox.families.lowrank_precision` for the maths.

    """

    arg_constraints = {"loc": constraints.real_vector}
    support = constraints.real_vector
    reparametrized_params = ["loc", "evecs", "evals", "rest"]

    def __init__(
        self, loc: Any, evecs: Any, evals: Any, rest: Any, *, validate_args: bool | None = None
    ) -> None:
        self.loc, self.evecs, self.evals, self.rest = loc, evecs, evals, rest
        super().__init__(
            batch_shape=(), event_shape=jnp.shape(loc)[-1:], validate_args=validate_args
        )

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        r"""Exact draws :math:`m + P^{-1/2}\varepsilon`."""
        eps = jax.random.normal(key, sample_shape + self.event_shape, jnp.result_type(self.loc))
        return lowrank_precision_sample(self.loc, self.evecs, self.evals, self.rest, eps)

    def log_prob(self, value: jax.Array) -> jax.Array:
        """Exact log-density."""
        return lowrank_precision_log_prob(value, self.loc, self.evecs, self.evals, self.rest)

    @property
    def mean(self) -> jax.Array:
        """The mean :math:`m`."""
        return self.loc

    @property
    def variance(self) -> jax.Array:
        """Marginal variances."""
        return lowrank_precision_var(self.evecs, self.evals, self.rest)
