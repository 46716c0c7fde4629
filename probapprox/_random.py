"""Random draws shared by the Monte Carlo paths (logit predictives, Laplace weight samples)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["standard_normal"]


def standard_normal(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype) -> jax.Array:
    r"""Standard normal draws by the Box–Muller transform (Box & Muller 1958).

    With :math:`u_1, u_2 \sim U(0, 1]` independent, :math:`\sqrt{-2\log u_1}\,(\cos 2\pi u_2,
    \sin 2\pi u_2)` are two independent N(0, 1) draws. Exact in distribution like
    :func:`jax.random.normal` (not the same numbers), and on CPU about twice as fast in
    float64 (no inverse error function), which dominates Monte Carlo predictives.

    Args:
        key: A JAX PRNG key.
        shape: Output shape.
        dtype: Floating dtype of the draws.

    Returns:
        Independent N(0, 1) draws of ``shape``.

    """
    n = math.prod(shape)
    half = -(-n // 2)
    u = jax.random.uniform(key, (2, half), dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
    radius, angle = jnp.sqrt(-2.0 * jnp.log(u[0])), (2.0 * math.pi) * u[1]
    return jnp.concatenate([radius * jnp.cos(angle), radius * jnp.sin(angle)])[:n].reshape(shape)
