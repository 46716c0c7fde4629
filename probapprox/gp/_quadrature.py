r"""Gauss–Hermite quadrature for expectations under a univariate Gaussian, elementwise.

With the Hermite nodes and weights :math:`(t_k, w_k)` of :math:`\int e^{-t^2} h(t)\,dt`
(``numpy.polynomial.hermite.hermgauss``), the change of variable :math:`f = \mu + \sqrt{2v}\,t`
gives

.. math::
    \mathbb E_{f \sim \mathcal N(\mu, v)}[g(f)]
        \approx \sum_{k=1}^{K} \tilde w_k\, g(\mu + \sqrt{v}\, z_k),
    \qquad z_k = \sqrt2\, t_k,\quad \tilde w_k = w_k / \sqrt\pi,

exact for polynomials of degree :math:`\le 2K - 1`; :math:`\sum_k \tilde w_k = 1`. The log
of an expectation of a positive integrand, :math:`\log \mathbb E[e^{h(f)}]`, is evaluated as
:math:`\mathrm{LSE}_k(\log \tilde w_k + h(f_k))` so it stays finite when :math:`e^h`
underflows. This is the one Gauss–Hermite helper of :mod:`probapprox.gp`.

Reference:
    Abramowitz, M. & Stegun, I. A. (1964), *Handbook of Mathematical Functions*, 25.4.46.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from probapprox._checks import check_int

__all__ = [
    "DEFAULT_NUM_POINTS",
    "gh_expectation",
    "gh_log_expectation",
    "gh_log_expectation_shifted",
    "gh_points",
]

DEFAULT_NUM_POINTS = 20
"""Default number of Gauss–Hermite nodes (DKLGP's design note: about 20)."""


@lru_cache(maxsize=32)
def _standard_normal_rule(num_points: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.hermite.hermgauss(num_points)
    return np.sqrt(2.0) * t, w / np.sqrt(np.pi)


def gh_points(num_points: int = DEFAULT_NUM_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Return nodes ``z`` and weights ``w`` with ``E_{N(0,1)}[g(z)] ≈ Σ_k w_k g(z_k)``.

    Args:
        num_points: the number of nodes K ≥ 1 (exact for polynomials of degree ≤ 2K − 1).

    Returns:
        Two float64 numpy arrays of shape ``(K,)``; the weights sum to 1.

    Example:
        >>> z, w = gh_points(3)
        >>> round(float((w * z**2).sum()), 12)
        1.0

    """
    num_points = check_int("gh_points", "num_points", num_points)
    z, w = _standard_normal_rule(num_points)
    return z.copy(), w.copy()


def _nodes(mean: jax.ArrayLike, var: jax.ArrayLike, num_points: int) -> tuple[jax.Array, jax.Array]:
    """Quadrature abscissae ``f = μ + √v z`` with a trailing axis of length K, and weights."""
    num_points = check_int("gh_expectation", "num_points", num_points)
    dtype = jnp.result_type(mean, var, 1.0)
    mean = jnp.asarray(mean, dtype)
    var = jnp.asarray(var, dtype)
    z, w = _standard_normal_rule(num_points)
    positive = var > 0
    # zero derivative at v = 0 instead of NaN (0 · ∞) from d√v/dv
    sd = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
    f = mean[..., None] + sd[..., None] * jnp.asarray(z, dtype)
    return f, jnp.asarray(w, dtype)


def gh_expectation(
    fn: Callable[[jax.Array], jax.Array],
    mean: jax.ArrayLike,
    var: jax.ArrayLike,
    num_points: int = DEFAULT_NUM_POINTS,
) -> jax.Array:
    r"""Approximate :math:`\mathbb E_{f \sim \mathcal N(\mu, v)}[g(f)]` elementwise.

    Args:
        fn: g, applied to an array of abscissae of shape ``broadcast(mean, var).shape + (K,)``;
            it must act elementwise (close over other arguments with a trailing ``[..., None]``
            axis, e.g. ``lambda f: log_prob(y[..., None], f)``).
        mean: μ, any shape.
        var: v ≥ 0, broadcastable against ``mean``. At v = 0 the value is g(μ); the
            derivative with respect to v there is reported as 0.
        num_points: the number of nodes K.

    Returns:
        The expectation, shape ``broadcast(mean, var).shape``.

    """
    f, w = _nodes(mean, var, num_points)
    return jnp.sum(w * fn(f), axis=-1)


def gh_log_expectation(
    log_fn: Callable[[jax.Array], jax.Array],
    mean: jax.ArrayLike,
    var: jax.ArrayLike,
    num_points: int = DEFAULT_NUM_POINTS,
) -> jax.Array:
    r"""Approximate :math:`\log \mathbb E_{f \sim \mathcal N(\mu, v)}[e^{h(f)}]` elementwise.

    Evaluated as :math:`\mathrm{LSE}_k(\log \tilde w_k + h(f_k))`, so it stays finite when
    :math:`e^{h}` underflows (e.g. a predictive density far in the tail).

    Args:
        log_fn: h, elementwise on abscissae with a trailing axis of length K.
        mean: μ, any shape.
        var: v ≥ 0, broadcastable against ``mean``.
        num_points: the number of nodes K.

    Returns:
        The log-expectation, shape ``broadcast(mean, var).shape``.

    """
    f, w = _nodes(mean, var, num_points)
    return logsumexp(jnp.log(w) + log_fn(f), axis=-1)


def gh_log_expectation_shifted(
    log_fn: Callable[[jax.Array], jax.Array],
    mean: jax.ArrayLike,
    var: jax.ArrayLike,
    centre: jax.ArrayLike,
    scale_var: jax.ArrayLike,
    num_points: int = DEFAULT_NUM_POINTS,
) -> jax.Array:
    r"""Adaptive Gauss–Hermite for :math:`\log \mathbb E_{\mathcal N(\mu, v)}[e^{h(f)}]`.

    The nodes are those of :math:`\mathcal N(c, s^2)` (the Laplace approximation of the
    integrand :math:`e^{h(f)}\mathcal N(f; \mu, v)` when ``centre`` is its mode and
    ``scale_var`` its inverse curvature), and the Gaussian density ratio is folded in:

    .. math::
        \log \int e^{h(f)} \mathcal N(f; \mu, v)\, df \approx \mathrm{LSE}_k\Big(
            \log \tilde w_k + h(f_k) + \log\frac{\mathcal N(f_k; \mu, v)}
            {\mathcal N(f_k; c, s^2)}\Big), \qquad f_k = c + s z_k.

    Any ``(c, s²)`` gives a consistent rule; a good centre makes 20 nodes enough when the
    integrand is much narrower than :math:`\mathcal N(\mu, v)` (Liu & Pierce 1994,
    "A note on Gauss–Hermite quadrature", Biometrika 81(3)). Where ``var == 0`` the result is
    ``log_fn(mean)``.

    Args:
        log_fn: h, elementwise on abscissae with a trailing axis of length K.
        mean: μ.
        var: v ≥ 0.
        centre: c, broadcastable against ``mean``.
        scale_var: s² > 0 where ``var > 0``.
        num_points: the number of nodes K.

    Returns:
        The log-expectation, shape ``broadcast(mean, var, centre, scale_var).shape``.

    """
    mean, var, centre, scale_var = jnp.broadcast_arrays(
        *(
            jnp.asarray(a, jnp.result_type(mean, var, centre, scale_var, 1.0))
            for a in (mean, var, centre, scale_var)
        )
    )
    positive = var > 0
    v = jnp.where(positive, var, 1.0)
    s2 = jnp.where(positive, scale_var, 1.0)
    c = jnp.where(positive, centre, mean)
    z, w = _standard_normal_rule(check_int("gh_expectation", "num_points", num_points))
    z = jnp.asarray(z, mean.dtype)
    f = c[..., None] + jnp.sqrt(s2)[..., None] * z
    log_ratio = (
        -0.5 * jnp.log(v / s2)[..., None]
        - 0.5 * (f - mean[..., None]) ** 2 / v[..., None]
        + 0.5 * z**2
    )
    shifted = logsumexp(jnp.log(jnp.asarray(w, mean.dtype)) + log_fn(f) + log_ratio, axis=-1)
    return jnp.where(positive, shifted, log_fn(mean[..., None])[..., 0])
