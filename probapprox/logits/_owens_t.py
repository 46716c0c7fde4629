r"""Owen's T function in JAX, by Gauss–Legendre quadrature of its defining integral.

.. math::
    T(h, a) = \frac{1}{2\pi} \int_0^a \frac{e^{-h^2 (1 + x^2)/2}}{1 + x^2}\, dx .

For :math:`|a| \le 1` the integrand is smooth on the interval and the rule below is used
directly. :math:`T(-h, a) = T(h, a)` and :math:`T(h, -a) = -T(h, a)` give the signs, and
for :math:`|a| > 1` the reflection identity (Owen 1956)

.. math::
    T(h, a) = \tfrac12 \Phi(h) + \tfrac12 \Phi(ah) - \Phi(h)\Phi(ah) - T(ah, 1/a),
    \qquad h \ge 0,

maps the argument back into :math:`(0, 1)`.

Numerics: the factor :math:`e^{-h^2(1 + l^2)/2}` at the lower limit ``l`` is taken out in
log space, and the upper limit is cut to :math:`\sqrt{l^2 + 81/h^2}`, beyond which the
remaining integrand is below :math:`e^{-40}` of its value at ``l``. The rescaled integrand
then always spans at most nine of its own standard deviations, which a fixed 48-node
Gauss–Legendre rule integrates to about 1e-15 relative error for every ``h`` (checked
against ``scipy.special.owens_t`` in the tests). Everything is differentiable and
``jit``/``vmap`` compatible (no Python control flow on values).

Reference:
    Owen (1956), "Tables for computing bivariate normal probabilities", Ann. Math. Statist.
    27(4), 1075–1090.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

__all__ = ["owens_t", "log_owens_integral"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)
_CUT = 9.0  # standard deviations of exp(-h^2 x^2 / 2) kept in the integration window


@jax.jit
def log_owens_integral(h: jax.Array, lo: jax.Array, width: jax.Array) -> jax.Array:
    r"""Log of :math:`\frac{1}{2\pi}\int_{l}^{l + w} e^{-h^2(1+x^2)/2} / (1+x^2)\, dx`.

    ``T(h, a)`` is the case ``lo = 0, width = a``; ``Var[Φ(z)]`` for a Gaussian ``z`` is
    twice the case ``lo = b, width = 1 - b``. The width is an argument of its own so that
    callers can pass it without cancellation (``1 - b`` is tiny when σ² is).
    Returns ``-inf`` when ``width == 0``.

    Args:
        h: the Gaussian argument (any real; broadcasts with ``lo`` and ``width``).
        lo: lower limit, ``>= 0``.
        width: length of the interval, ``>= 0``.

    Returns:
        The log integral, shape ``broadcast(h, lo, width)``.

    """
    dtype = jnp.result_type(h, lo, width, 1.0)
    h, lo, width = jnp.broadcast_arrays(*(jnp.asarray(v, dtype) for v in (h, lo, width)))
    h2 = h * h
    small = h2 < 1e-6  # then the cut lies beyond any width <= 1e3: skip it (no 1/0)
    safe_h2 = jnp.where(small, 1.0, h2)
    # distance from lo to sqrt(lo² + CUT²/h²), written without cancellation
    reach = (_CUT**2 / safe_h2) / (jnp.sqrt(lo * lo + _CUT**2 / safe_h2) + lo)
    half = 0.5 * jnp.where(small, width, jnp.minimum(width, reach))
    d = half[..., None] * (1.0 + jnp.asarray(_NODES, dtype))  # x - lo at the nodes
    x = lo[..., None] + d
    integrand = jnp.exp(-0.5 * h2[..., None] * d * (2.0 * lo[..., None] + d)) / (1.0 + x * x)
    total = half * jnp.sum(jnp.asarray(_WEIGHTS, dtype) * integrand, axis=-1)
    return -0.5 * h2 * (1.0 + lo * lo) + jnp.log(total) - jnp.log(2.0 * jnp.pi)


def _owens_t_unit(h: jax.Array, a: jax.Array) -> jax.Array:
    """T(h, a) for 0 <= a <= 1."""
    return jnp.exp(log_owens_integral(h, jnp.zeros_like(a), a))


@jax.jit
def owens_t(h: jax.ArrayLike, a: jax.ArrayLike) -> jax.Array:
    r"""Owen's T function :math:`T(h, a)` (see the module docstring), elementwise.

    In float64 it matches ``scipy.special.owens_t`` to about 1e-16 absolute over
    ``h ∈ [-40, 40]``, ``a ∈ [-10, 10]``, and to about 1e-13 relative for ``|a| <= 1``
    (scipy's own relative error is ~1e-11 at ``a = 1e-6``; the reflection used for
    ``|a| > 1`` is accurate in absolute terms only). ``jit``, ``vmap`` and ``grad``
    compatible.

    Args:
        h: real array.
        a: real array, broadcast against ``h``.

    Returns:
        :math:`T(h, a)`, shape ``broadcast(h, a)``.

    Example:
        >>> round(float(owens_t(0.0, 1.0)), 6)  # arctan(1) / (2π) = 1/8
        0.125

    """
    dtype = jnp.result_type(h, a, 1.0)
    h, a = jnp.broadcast_arrays(jnp.asarray(h, dtype), jnp.asarray(a, dtype))
    h, sign, b = jnp.abs(h), jnp.sign(a), jnp.abs(a)  # T is even in h and odd in a
    inner = b <= 1.0
    b_out = jnp.where(inner, 2.0, b)  # keeps the unused reflection finite (and its gradient)
    # one quadrature serves both cases: T(h, b) directly, or T(bh, 1/b) for the reflection
    t = _owens_t_unit(jnp.where(inner, h, b_out * h), jnp.where(inner, b, 1.0 / b_out))
    p, q = ndtr(h), ndtr(b_out * h)
    return sign * jnp.where(inner, t, 0.5 * p + 0.5 * q - p * q - t)
