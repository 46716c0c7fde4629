r"""Gaussian with a low-rank-plus-isotropic precision (the low-rank Laplace posterior).

.. math::
    P = Q\,\mathrm{diag}(\lambda)\,Q^\top + c\,(I - QQ^\top), \qquad
    q(z) = \mathcal N(z;\ m,\ P^{-1}),

with :math:`Q \in \mathbb R^{D\times k}` orthonormal, :math:`\lambda \in \mathbb R^k_{>0}` the
top-:math:`k` curvature eigenvalues and :math:`c > 0` the precision of the remaining
:math:`D - k` directions. :math:`Q` diagonalises :math:`P`, so

.. math::
    P^{-1/2}\varepsilon = Q\,\lambda^{-1/2} \odot Q^\top\varepsilon
        + c^{-1/2}\,(\varepsilon - QQ^\top\varepsilon), \qquad
    \log\det P = \textstyle\sum_i \log\lambda_i + (D - k)\log c,

and :math:`\mathrm{diag}(P^{-1}) = c^{-1} + (Q \odot Q)(\lambda^{-1} - c^{-1})`: every
operation costs :math:`O(Dk)`.

Reference: Daxberger et al. (2021), "Laplace Redux", NeurIPS (low-rank Laplace).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import Array

__all__ = ["lowrank_precision_sample", "lowrank_precision_log_prob", "lowrank_precision_var"]


def lowrank_precision_sample(
    loc: Array, evecs: Array, evals: Array, rest: Array, eps: Array
) -> Array:
    r"""Return :math:`m + P^{-1/2}\varepsilon` for standard-normal ``eps`` of shape ``(..., D)``."""
    proj = eps @ evecs
    inside = (proj / jnp.sqrt(evals)) @ evecs.T
    outside = (eps - proj @ evecs.T) / jnp.sqrt(rest)
    return loc + inside + outside


def lowrank_precision_log_prob(
    x: Array, loc: Array, evecs: Array, evals: Array, rest: Array
) -> Array:
    r"""Return :math:`\log\mathcal N(x; m, P^{-1})` for ``x`` of shape ``(..., D)``."""
    d, k = evecs.shape
    delta = x - loc
    proj = delta @ evecs
    quad = jnp.sum(evals * proj**2, -1) + rest * (jnp.sum(delta**2, -1) - jnp.sum(proj**2, -1))
    logdet = jnp.sum(jnp.log(evals)) + (d - k) * jnp.log(rest)
    return 0.5 * (logdet - quad - d * math.log(2 * math.pi))


def lowrank_precision_var(evecs: Array, evals: Array, rest: Array) -> Array:
    r"""Marginal variances :math:`\mathrm{diag}(P^{-1})`, shape ``(D,)``."""
    return 1.0 / rest + (evecs**2) @ (1.0 / evals - 1.0 / rest)
