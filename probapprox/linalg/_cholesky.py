"""Cholesky factors of (possibly singular) symmetric PSD matrices."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["safe_cholesky"]


def safe_cholesky(cov: jax.Array) -> jax.Array:
    r"""Lower Cholesky factor of a batch of symmetric PSD matrices, with a jitter fallback.

    The input is symmetrised, :math:`\tfrac12(\Sigma + \Sigma^\top)`. Where the plain factor
    is not finite (a singular or rank-deficient Σ), the factor of
    :math:`\Sigma + \sqrt{\varepsilon}\,\overline{\operatorname{diag}\Sigma}\, I` is used
    instead (ε of the dtype), so that :math:`LL^\top` differs from Σ by at most that jitter;
    a Σ with zero diagonal (Σ = 0 for a PSD input) gets :math:`L = 0`.

    Args:
        cov: ``(..., n, n)`` symmetric positive semi-definite matrices.

    Returns:
        ``(..., n, n)`` lower-triangular factors; finite for any finite PSD input.

    Example:
        >>> import jax.numpy as jnp
        >>> L = safe_cholesky(jnp.ones((2, 2)))  # rank one: the jitter fallback
        >>> bool(jnp.all(jnp.isfinite(L)))
        True

    """
    cov = 0.5 * (cov + jnp.swapaxes(cov, -1, -2))
    chol = jnp.linalg.cholesky(cov)
    bad = ~jnp.all(jnp.isfinite(chol), axis=(-2, -1), keepdims=True)
    scale = jnp.mean(jnp.diagonal(cov, axis1=-2, axis2=-1), axis=-1)[..., None, None]
    jitter = jnp.sqrt(jnp.finfo(cov.dtype).eps) * jnp.maximum(scale, jnp.finfo(cov.dtype).tiny)
    eye = jnp.eye(cov.shape[-1], dtype=cov.dtype)
    fixed = jnp.linalg.cholesky(cov + jitter * eye)
    return jnp.where(bad, jnp.where(scale > 0, fixed, 0.0), chol)  # PSD, zero diagonal: L = 0
