r"""The DKLGP evidence lower bound, split over columns, and its unbiased minibatch estimate.

With the SIC prior :math:`\hat p = \mathcal N(\mu, (UU^\top)^{-1})` and posterior
:math:`q = \mathcal N(\nu, (VV^\top)^{-1})` on a shared pattern (see
:mod:`probapprox.families.sic_gaussian`),

.. math::
    \mathrm{ELBO} = \sum_{j=1}^n \ell_j, \qquad
    \ell_j = \mathbb E_{\mathcal N(f_j;\,\nu_j,\,\sigma_j^2)} \log p(y_j \mid f_j) - k_j,

and for a batch :math:`B` of :math:`b` columns drawn uniformly without replacement,
:math:`\frac{n}{b}\sum_{j \in B} \ell_j` is unbiased for the ELBO. The prior columns
:math:`U_{:,j}`, :math:`j \in B`, are recomputed from the kernel inside the estimate, so its
gradient reaches the kernel hyperparameters. (The authors' code drops the :math:`n/b` factor and
the :math:`+\tfrac12` in :math:`k_j`; both are kept here so the value is the ELBO itself.)

Reference: Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), ICML, eq. (9)–(11).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.families.sic_gaussian import SICParams, column_terms
from probapprox.gp._gp_data import GPData
from probapprox.linalg import columns_for

__all__ = ["column_elbo", "minibatch_elbo", "full_elbo"]


def column_elbo(
    params: SICParams,
    kernel_fn: Callable[[Array, Array], Array],
    likelihood: object,
    data: GPData,
    cols: Array,
    *,
    nugget: float,
    mu: float | Array = 0.0,
) -> Array:
    r"""The terms :math:`\ell_j` for ``j in cols``, shape ``(b,)``.

    Args:
        params: SIC posterior parameters.
        kernel_fn: ``kernel_fn(X1, X2) -> Gram``, e.g. a :class:`probapprox.gp.Kernel`.
        likelihood: Has ``expected_log_prob(y, mean, var)``.
        data: ``GPData(X, y, idx, anc)``: ``(n, d)`` inputs and ``(n,)`` observations in
            maximin order, the ``(n, m)`` padded pattern and the ``(n, a)`` ancestor sets.
        cols: ``(b,)`` column indices.
        nugget: Added to the kernel diagonal of every prior block.
        mu: Prior mean (scalar or ``(n,)``).

    """
    u_batch = columns_for(kernel_fn, data.X, data.idx, nugget, cols)
    t = column_terms(params, u_batch, data.idx, data.anc, cols, mu)
    return likelihood.expected_log_prob(data.y[cols], t.mean, t.var) - t.kl


def minibatch_elbo(
    params: SICParams,
    kernel_fn: Callable[[Array, Array], Array],
    likelihood: object,
    data: GPData,
    cols: Array,
    *,
    nugget: float,
    mu: float | Array = 0.0,
) -> Array:
    r"""Unbiased estimate :math:`\frac{n}{b}\sum_{j \in B}\ell_j` of the ELBO."""
    terms = column_elbo(params, kernel_fn, likelihood, data, cols, nugget=nugget, mu=mu)
    return data.idx.shape[0] / cols.shape[0] * jnp.sum(terms)


def full_elbo(
    params: SICParams,
    kernel_fn: Callable[[Array, Array], Array],
    likelihood: object,
    data: GPData,
    *,
    nugget: float,
    mu: float | Array = 0.0,
    batch_size: int = 512,
) -> Array:
    """The exact sum of all column terms, in chunks of ``batch_size`` columns (memory bound)."""
    n = data.idx.shape[0]
    size = min(batch_size, n)
    nb = -(-n // size)
    cols = jnp.arange(nb * size).reshape(nb, size)
    real = cols < n
    cols = jnp.where(real, cols, 0)

    def chunk(c_and_mask: tuple[Array, Array]) -> Array:
        c, mask = c_and_mask
        terms = column_elbo(params, kernel_fn, likelihood, data, c, nugget=nugget, mu=mu)
        return jnp.sum(jnp.where(mask, terms, 0.0))

    return jnp.sum(jax.lax.map(chunk, (cols, real)))
