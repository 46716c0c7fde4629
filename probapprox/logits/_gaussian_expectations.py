r"""Expectations of elementwise links under a Gaussian logit z ~ N(μ, σ²), elementwise.

These are the unnormalised building blocks of the closed-form predictives (Mucsányi, Da Costa,
Hennig 2025, §2.2). All functions are elementwise in ``(mean, var)`` (they broadcast), work
in log space where it matters, and are ``jit``/``vmap``/``grad`` compatible.

.. math::
    \mathbb E[\Phi(z)] &= \Phi\!\big(\mu / \sqrt{1 + \sigma^2}\big)
        \quad\text{(exact)}, \\
    \mathbb E[\Phi(z)^2] &= \Phi(a) - 2\,T\!\big(a, 1/\sqrt{1 + 2\sigma^2}\big),
        \quad a = \mu / \sqrt{1 + \sigma^2}\quad\text{(exact; T = Owen's T)}, \\
    \mathbb E[\sigma(z)] &\approx \sigma\!\big(\mu / \sqrt{1 + \lambda_0 \sigma^2}\big),
        \quad \lambda_0 = \pi / 8\quad\text{(MacKay 1992; max error 0.018)}, \\
    \mathbb E[e^{z}] &= e^{\mu + \sigma^2 / 2}\quad\text{(exact)}.

The second moment of Φ is the bivariate normal probability
:math:`P(X_1 \le z, X_2 \le z)` with correlation :math:`\rho = \sigma^2/(1+\sigma^2)`,
i.e. :math:`\Phi_2(a, a; \rho) = \Phi(a) - 2T(a, \sqrt{(1-\rho)/(1+\rho)})`. Its variance
:math:`\mathrm{Var}[\Phi(z)] = \Phi(a)\Phi(-a) - 2T(a, b) = 2[T(a, 1) - T(a, b)]` is an
integral of a positive function over :math:`[b, 1]`, which :func:`log_variance_normcdf`
evaluates directly, with no cancellation, so the variance stays positive even as
:math:`\sigma^2 \to 0`.

The sigmoid second moment uses the same approximation as its first moment,
:math:`\sigma(x) \approx \Phi(\sqrt{\lambda_0} x)`, giving the Φ formulas with
:math:`a = \mu/\sqrt{1/\lambda_0 + \sigma^2}` and :math:`b = 1/\sqrt{1 + 2\lambda_0\sigma^2}`.

References:
    1. Mucsányi, Da Costa, Hennig (2025), "Rethinking approximate Gaussian inference in
       classification", NeurIPS (arXiv 2502.03366).
    2. MacKay (1992), "The evidence framework applied to classification networks",
       Neural Computation 4(5).
    3. Owen (1956), "Tables for computing bivariate normal probabilities".

"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from probapprox.logits._owens_t import log_owens_integral, owens_t

__all__ = [
    "LAMBDA0",
    "expected_normcdf",
    "expected_normcdf_sq",
    "expected_sigmoid",
    "expected_sigmoid_sq",
    "expected_exp",
    "log_expected_normcdf",
    "log_expected_sigmoid",
    "log_variance_normcdf",
]

LAMBDA0 = jnp.pi / 8.0
"""The probit–logit matching constant: σ(x) ≈ Φ(√λ₀ x), λ₀ = π/8."""


def _float(mean: jax.ArrayLike, var: jax.ArrayLike) -> tuple[jax.Array, jax.Array]:
    dtype = jnp.result_type(mean, var, 1.0)
    return jnp.asarray(mean, dtype), jnp.asarray(var, dtype)


def _normcdf_args(mean: jax.Array, var: jax.Array, scale: float) -> tuple[jax.Array, ...]:
    """``a = μ/√(1/s + σ²)``, ``b = 1/√(1 + 2sσ²)`` and ``1 - b`` (s = 1 for Φ, λ₀ for σ).

    ``1 - b = 2sσ² / (r (r + 1))`` with ``r = √(1 + 2sσ²)``, free of cancellation.
    """
    root = jnp.sqrt(1.0 + 2.0 * scale * var)
    one_minus_b = 2.0 * scale * var / (root * (root + 1.0))
    return mean / jnp.sqrt(1.0 / scale + var), 1.0 / root, one_minus_b


@jax.jit
def log_expected_normcdf(mean: jax.ArrayLike, var: jax.ArrayLike) -> jax.Array:
    r""":math:`\log \mathbb E[\Phi(z)] = \log\Phi(\mu/\sqrt{1+\sigma^2})`, via ``log_ndtr``."""
    mean, var = _float(mean, var)
    return log_ndtr(mean / jnp.sqrt(1.0 + var))


def expected_normcdf(mean: jax.ArrayLike, var: jax.ArrayLike) -> jax.Array:
    r"""Exact :math:`\mathbb E[\Phi(z)]` for :math:`z \sim \mathcal N(\mu, \sigma^2)`, elementwise.

    Args:
        mean: logit means μ.
        var: logit variances σ² ≥ 0 (broadcast against ``mean``).

    Returns:
        :math:`\Phi(\mu/\sqrt{1+\sigma^2})`.

    Example:
        >>> float(expected_normcdf(0.0, 3.0))
        0.5

    """
    return jnp.exp(log_expected_normcdf(mean, var))


@partial(jax.jit, static_argnames=("scale",))
def log_variance_normcdf(mean: jax.ArrayLike, var: jax.ArrayLike, scale: float = 1.0) -> jax.Array:
    r"""Stable :math:`\log \mathrm{Var}[\Phi(\sqrt{s}\,z)]` (``scale`` s; 1 for Φ, λ₀ for σ).

    Uses :math:`\mathrm{Var} = \frac1\pi \int_b^1 e^{-a^2(1+x^2)/2}/(1+x^2)\,dx` with
    :math:`a, b` as in the module docstring; ``-inf`` when σ² = 0.
    """
    mean, var = _float(mean, var)
    a, b, one_minus_b = _normcdf_args(mean, var, scale)
    return jnp.log(2.0) + log_owens_integral(a, b, one_minus_b)


@jax.jit
def expected_normcdf_sq(mean: jax.ArrayLike, var: jax.ArrayLike) -> jax.Array:
    r"""Exact :math:`\mathbb E[\Phi(z)^2] = \Phi(a) - 2T(a, 1/\sqrt{1+2\sigma^2})`, elementwise.

    Args:
        mean: logit means μ.
        var: logit variances σ² ≥ 0.

    Returns:
        The second moment, with :math:`a = \mu/\sqrt{1+\sigma^2}`.

    """
    mean, var = _float(mean, var)
    a, b, _ = _normcdf_args(mean, var, 1.0)
    return jnp.exp(log_ndtr(a)) - 2.0 * owens_t(a, b)


@jax.jit
def log_expected_sigmoid(mean: jax.ArrayLike, var: jax.ArrayLike) -> jax.Array:
    r""":math:`\log \sigma(\mu/\sqrt{1+\lambda_0\sigma^2})`, via ``log_sigmoid``."""
    mean, var = _float(mean, var)
    return jax.nn.log_sigmoid(mean / jnp.sqrt(1.0 + LAMBDA0 * var))


def expected_sigmoid(mean: jax.ArrayLike, var: jax.ArrayLike) -> jax.Array:
    r"""Approximate :math:`\mathbb E[\sigma(z)] \approx \sigma(\mu/\sqrt{1+\lambda_0\sigma^2})`.

    The approximation replaces σ by :math:`\Phi(\sqrt{\lambda_0}\,\cdot)` (matched slope at
    0), integrates exactly, and maps back. Its error against the exact expectation grows
    with σ², to a supremum of about 0.0177, approached for large σ² along
    μ ≈ ±1.7·√(1+σ²); it is below 7e-4 for σ² ≤ 0.1 and 0.0046 for σ² ≤ 1 (see
    ``benchmarks/bench_logit_predictives.py`` for the error map).

    Args:
        mean: logit means μ.
        var: logit variances σ² ≥ 0.

    Returns:
        The approximate expectation, elementwise.

    """
    return jnp.exp(log_expected_sigmoid(mean, var))


def expected_sigmoid_sq(mean: jax.ArrayLike, var: jax.ArrayLike) -> jax.Array:
    r"""Approximate :math:`\mathbb E[\sigma(z)^2]` as ``expected_sigmoid² + Var``.

    The variance is that of :math:`\Phi(\sqrt{\lambda_0} z)`, i.e. Owen's-T formula with
    :math:`a = \mu/\sqrt{1/\lambda_0+\sigma^2}`, :math:`b = 1/\sqrt{1+2\lambda_0\sigma^2}`.
    Pairing it with :func:`expected_sigmoid` (rather than with
    :math:`\Phi(a)`, the other reading of Mucsányi et al.) keeps
    :math:`\mathbb E[\sigma^2] - \mathbb E[\sigma]^2 > 0` and → 0 as σ² → 0.
    """
    return expected_sigmoid(mean, var) ** 2 + jnp.exp(log_variance_normcdf(mean, var, LAMBDA0))


def expected_exp(mean: jax.ArrayLike, var: jax.ArrayLike) -> jax.Array:
    r"""Exact :math:`\mathbb E[e^z] = e^{\mu + \sigma^2/2}` (the log-normal mean), elementwise."""
    mean, var = _float(mean, var)
    return jnp.exp(mean + 0.5 * var)
