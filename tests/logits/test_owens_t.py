"""Owen's T in JAX against scipy.special.owens_t and known identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import owens_t as scipy_owens_t
from scipy.stats import norm

from probapprox.logits import owens_t
from probapprox.logits._owens_t import log_owens_integral


def test_matches_scipy_on_unit_interval():
    h = np.linspace(-8, 8, 161)[:, None]
    a = np.linspace(1e-3, 1, 100)[None, :]
    ref = scipy_owens_t(h, a)
    got = np.asarray(owens_t(h, a))
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
    assert np.max(np.abs(got - ref)) < 1e-14  # far inside the required 1e-10


def test_matches_scipy_far_tails_and_all_signs():
    h = np.concatenate([np.linspace(-40, 40, 81), [0.0, 1e-8]])[:, None]
    a = np.concatenate([np.linspace(-10, 10, 81), [1e-6, 1.0, -1.0]])[None, :]
    np.testing.assert_allclose(np.asarray(owens_t(h, a)), scipy_owens_t(h, a), atol=1e-15)
    # relative accuracy on |a| <= 1, where the values can be tiny (1e-289 at h = 36)
    h2, a2 = np.array([5.0, 20.0, 36.0, -36.0]), np.array([0.3, 0.9, 1.0, 0.5])
    np.testing.assert_allclose(np.asarray(owens_t(h2, a2)), scipy_owens_t(h2, a2), rtol=1e-11)


def test_identities():
    a = jnp.linspace(0.0, 5.0, 11)
    np.testing.assert_allclose(owens_t(0.0, a), np.arctan(a) / (2 * np.pi), atol=1e-15)
    h = jnp.linspace(-3, 3, 13)
    phi = jax.scipy.stats.norm.cdf(h)
    np.testing.assert_allclose(owens_t(h, 1.0), 0.5 * phi * (1 - phi), atol=1e-15)


def test_log_integral_is_finite_where_t_underflows():
    # T(60, 0.5) ~ exp(-1800) underflows, its log does not
    got = float(log_owens_integral(60.0, 0.0, 0.5))
    assert np.isfinite(got)
    # leading-order Laplace estimate: log[exp(-h²/2) / (2π) * sqrt(π/2) / h]
    lead = -1800 - np.log(2 * np.pi) + 0.5 * np.log(np.pi / 2) - np.log(60.0)
    assert got == pytest.approx(lead, abs=1e-3)


def test_jit_and_grads():
    f = jax.jit(owens_t)
    np.testing.assert_allclose(f(1.3, 0.4), scipy_owens_t(1.3, 0.4), atol=1e-15)
    # analytic partials: dT/da = exp(-h²(1+a²)/2) / (2π(1+a²)), dT/dh = -φ(h)(Φ(ah) - 1/2)
    h, a = jnp.array([0.8, -1.3, 0.5]), jnp.array([0.6, 0.9, 2.5])
    grad_h, grad_a = jax.vmap(jax.grad(owens_t, argnums=(0, 1)))(h, a)
    want_a = np.exp(-(h**2) * (1 + a**2) / 2) / (2 * np.pi * (1 + a**2))
    want_h = -norm.pdf(h) * (norm.cdf(a * h) - 0.5)
    np.testing.assert_allclose(grad_a, want_a, rtol=1e-12)
    np.testing.assert_allclose(grad_h, want_h, rtol=1e-12)


def test_float32():
    h = np.linspace(-8, 8, 33, dtype=np.float32)[:, None]
    a = np.linspace(0.0, 1.0, 21, dtype=np.float32)[None, :]
    got = owens_t(h, a)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, scipy_owens_t(h.astype(float), a.astype(float)), atol=1e-7)
