r"""NumPyro distribution of the SIC Gaussian :math:`q(f) = \mathcal N(\nu, (VV^\top)^{-1})`.

V is upper triangular on the padded maximin-order pattern ``pattern.idx``; the parameters
(:class:`~probapprox.families.sic_gaussian.SICParams`: ``nu``, ``offdiag``, ``log_diag`` with
:math:`V_{jj} = e^{\text{log\_diag}_j} + 10^{-4}`) are in maximin order, values in X's
order; the permutation ``pattern.perm`` is applied here. The maths lives in
:mod:`probapprox.families.sic_gaussian`:

.. math::
    f_{\mathrm{perm}} = \nu + V^{-\top}\varepsilon, \qquad
    \log q(f) = \sum_j \log V_{jj} - \tfrac12\|V^\top(f_{\mathrm{perm}}-\nu)\|^2
               - \tfrac n2\log 2\pi,

both O(n m) (sparse triangular sweep / gather). Reference: Cao et al. (2023), ICML.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from probapprox.families import sic_gaussian as sic
from probapprox.gp import inverse_permutation
from probapprox.ordering import Pattern

__all__ = ["SICNormal"]


class SICNormal(dist.Distribution):
    """``q(f) = N(ν, (V Vᵀ)⁻¹)`` on a maximin pattern, reported in X's original order.

    Args:
        nu: ``(n,)`` mean in maximin order.
        offdiag: ``(n, m)`` off-diagonal values of V aligned with ``pattern.idx``.
        log_diag: ``(n,)``; ``V_jj = exp(log_diag_j) + 1e-4``.
        pattern: the :class:`~probapprox.ordering.Pattern` V lives on.

    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True
    pytree_data_fields = ("nu", "offdiag", "log_diag")
    pytree_aux_fields = ("pattern",)

    def __init__(
        self,
        nu: jax.Array,
        offdiag: jax.Array,
        log_diag: jax.Array,
        pattern: Pattern,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.nu, self.offdiag, self.log_diag, self.pattern = nu, offdiag, log_diag, pattern
        super().__init__(batch_shape=(), event_shape=(pattern.n,), validate_args=validate_args)

    @property
    def params(self) -> sic.SICParams:
        """The family parameters (maximin order)."""
        return sic.SICParams(self.nu, self.offdiag, self.log_diag)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Exact reparameterised draws ``sample_shape + (n,)`` in X's order."""
        num = math.prod(sample_shape)
        f = sic.sample(self.params, self.pattern.idx, key, num)
        f = f[..., inverse_permutation(self.pattern)]
        return f.reshape(tuple(sample_shape) + self.event_shape)

    def rsample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Same as :meth:`sample` (draws are differentiable in the parameters)."""
        return self.sample(key, sample_shape)

    def log_prob(self, value: jax.Array) -> jax.Array:
        """Exact ``log q(value)`` for ``value (..., n)`` in X's order."""
        value = jnp.asarray(value)[..., self.pattern.perm]
        return sic.log_prob(self.params, self.pattern.idx, value)

    def entropy(self) -> jax.Array:
        r"""Closed form :math:`\tfrac n2(1+\log 2\pi) - \sum_j \log V_{jj}`."""
        return sic.entropy(self.params)

    @property
    def mean(self) -> jax.Array:
        """``ν`` in X's order."""
        return self.nu[inverse_permutation(self.pattern)]

    @property
    def variance(self) -> jax.Array:
        r"""Marginal variances :math:`\|V^{-1}e_j\|^2` in X's order.

        Computed on the local blocks of ``pattern.anc``: exact when the ancestor sets hold all
        ancestors in V's DAG (e.g. the dense pattern), the reduced-ancestor approximation of
        Cao et al. otherwise.
        """
        _, var = sic.marginals(self.params, self.pattern.idx, self.pattern.anc)
        return var[inverse_permutation(self.pattern)]
