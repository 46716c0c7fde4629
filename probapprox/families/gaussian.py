r"""Full-covariance Gaussian maths: the forward–backward (FB-GVI) update and Gaussian KL.

FB-GVI (Diao, Balasubramanian, Chewi, Salim 2023) alternates a gradient (forward) step on
the potential :math:`V = -\log\pi` and the exact proximal (JKO) step of the negative
entropy:

.. math::
    m' &= m - \eta\, \hat g, \qquad
    \Sigma_{1/2} = (I - \eta \hat H)\, \Sigma\, (I - \eta \hat H), \\
    \Sigma' &= \tfrac12\Big(\Sigma_{1/2} + 2\eta I
        + \big[\Sigma_{1/2}(\Sigma_{1/2} + 4\eta I)\big]^{1/2}\Big),

with :math:`\hat g, \hat H` the gradient and Hessian of V (at a draw, or their
expectations). :math:`\Sigma_{1/2}` and :math:`\Sigma_{1/2} + 4\eta I` commute, so with
:math:`\Sigma_{1/2} = Q\,\mathrm{diag}(\lambda)\,Q^\top` the update is
:math:`\Sigma' = Q\,\mathrm{diag}(\lambda')\,Q^\top` with
:math:`\lambda' = \tfrac12(\lambda + 2\eta + \sqrt{\lambda(\lambda+4\eta)})`,
whose eigenvalues exceed η: every iterate is positive definite.

Reference:
    Diao, Balasubramanian, Chewi, Salim (2023), "Forward-backward Gaussian variational
    inference via JKO in the Bures-Wasserstein space", ICML.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["fb_gvi_update", "entropy_prox", "kl_gaussians"]


def entropy_prox(cov_half: jax.Array, step_size: float) -> jax.Array:
    """The backward (JKO) step of the negative entropy for a symmetric PSD ``cov_half``."""
    sym = 0.5 * (cov_half + cov_half.T)
    lam, q = jnp.linalg.eigh(sym)
    lam = jnp.maximum(lam, 0.0)
    new = 0.5 * (lam + 2 * step_size + jnp.sqrt(lam * (lam + 4 * step_size)))
    return (q * new) @ q.T


def fb_gvi_update(
    mean: jax.Array, cov: jax.Array, grad: jax.Array, hess: jax.Array, step_size: float
) -> tuple[jax.Array, jax.Array]:
    """One FB-GVI step from the gradient ``grad (d,)`` and Hessian ``hess (d, d)`` of V."""
    eye = jnp.eye(mean.shape[-1], dtype=cov.dtype)
    m = eye - step_size * 0.5 * (hess + hess.T)
    return mean - step_size * grad, entropy_prox(m @ cov @ m, step_size)


def kl_gaussians(m0: jax.Array, s0: jax.Array, m1: jax.Array, s1: jax.Array) -> jax.Array:
    r""":math:`\mathrm{KL}(\mathcal N(m_0, S_0)\,\|\,\mathcal N(m_1, S_1))` via Cholesky factors."""
    l0, l1 = jnp.linalg.cholesky(s0), jnp.linalg.cholesky(s1)
    a = jax.scipy.linalg.solve_triangular(l1, l0, lower=True)
    b = jax.scipy.linalg.solve_triangular(l1, m1 - m0, lower=True)
    logdet = 2 * (jnp.sum(jnp.log(jnp.diag(l1))) - jnp.sum(jnp.log(jnp.diag(l0))))
    return 0.5 * (jnp.sum(a**2) + jnp.sum(b**2) - m0.shape[-1] + logdet)
