"""Per-class Gaussian expectations against Monte Carlo, scipy and their limits."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import expit, ndtr
from scipy.special import owens_t as scipy_owens_t

from probapprox import logits as pl
from probapprox.logits._gaussian_expectations import log_expected_normcdf, log_variance_normcdf

N_MC = 200_000


def grid(mus, variances):
    m, v = np.meshgrid(np.asarray(mus, float), np.asarray(variances, float), indexing="ij")
    return m.ravel(), v.ravel()


def mc_moments(mu, var, fn, seed=0):
    rng = np.random.default_rng(seed)
    z = mu + np.sqrt(var) * rng.standard_normal((N_MC, mu.size))
    g = fn(z)
    return g.mean(0), g.std(0) / np.sqrt(N_MC)


def within_se(closed, mean, se, k=3.0):
    return np.abs(np.asarray(closed) - mean) <= k * se + 1e-12


def test_expected_normcdf_exact():
    mu, var = grid([-3, -1, 0, 0.5, 2], [0.01, 0.5, 2, 10])
    mean, se = mc_moments(mu, var, ndtr)
    assert within_se(pl.expected_normcdf(mu, var), mean, se).all()


def test_expected_normcdf_sq_exact():
    mu, var = grid([-3, -1, 0, 0.5, 2], [0.01, 0.5, 2, 10])
    mean, se = mc_moments(mu, var, lambda z: ndtr(z) ** 2, seed=1)
    assert within_se(pl.expected_normcdf_sq(mu, var), mean, se).all()
    # and the formula itself, with scipy's Owen's T
    a = mu / np.sqrt(1 + var)
    want = ndtr(a) - 2 * scipy_owens_t(a, 1 / np.sqrt(1 + 2 * var))
    np.testing.assert_allclose(pl.expected_normcdf_sq(mu, var), want, atol=1e-14)


def test_variance_formula_is_stable():
    mu, var = grid([-2, 0, 1.5], [0.3, 1, 5])
    direct = pl.expected_normcdf_sq(mu, var) - pl.expected_normcdf(mu, var) ** 2
    np.testing.assert_allclose(np.exp(log_variance_normcdf(mu, var)), direct, rtol=1e-10)
    # tiny variance: delta method Var ≈ φ(μ)² σ², where the naive difference is only roundoff
    mu, var = np.array([-1.0, 0.0, 2.0]), np.full(3, 1e-12)
    delta = (np.exp(-0.5 * mu**2) / np.sqrt(2 * np.pi)) ** 2 * var
    np.testing.assert_allclose(np.exp(log_variance_normcdf(mu, var)), delta, rtol=1e-6)
    assert np.exp(log_variance_normcdf(0.0, 0.0)) == 0.0


def test_expected_sigmoid_approximation_error():
    # rays μ = t·sqrt(1+σ²) reach the approximation's worst case (~0.0177) for large σ²
    t, var = grid([-2, -1, 0, 0.5, 1.7, 3], [0.01, 0.1, 1, 10, 100, 1000])
    mu = t * np.sqrt(1 + var)
    mean, se = mc_moments(mu, var, expit, seed=2)
    err = np.abs(np.asarray(pl.expected_sigmoid(mu, var)) - mean)
    assert err.max() <= 0.02
    small = var <= 0.1
    assert (err[small] <= 7e-4 + 3 * se[small]).all()
    assert err.max() > 0.01  # the grid does reach the known large-variance error


def test_expected_sigmoid_sq_close_to_mc():
    mu, var = grid([-2, 0, 1], [0.1, 1, 5])
    mean, _ = mc_moments(mu, var, lambda z: expit(z) ** 2, seed=3)
    assert np.abs(np.asarray(pl.expected_sigmoid_sq(mu, var)) - mean).max() < 0.02


def test_expected_exp_exact():
    mu, var = grid([-2, 0, 1.5], [0.01, 0.3, 1.0])
    mean, se = mc_moments(mu, var, np.exp, seed=4)
    assert within_se(pl.expected_exp(mu, var), mean, se).all()


def test_zero_variance_is_plain_link():
    mu = jnp.linspace(-5, 5, 11)
    zero = jnp.zeros_like(mu)
    np.testing.assert_allclose(pl.expected_normcdf(mu, zero), ndtr(mu), rtol=1e-14)
    np.testing.assert_allclose(pl.expected_sigmoid(mu, zero), expit(mu), rtol=1e-14)
    np.testing.assert_allclose(pl.expected_exp(mu, zero), np.exp(mu), rtol=1e-14)
    np.testing.assert_allclose(pl.expected_normcdf_sq(mu, zero), ndtr(mu) ** 2, atol=1e-15)


def test_log_space_at_extremes():
    mu, var = jnp.array([-1e3, 1e3, -40.0]), jnp.array([0.0, 1e6, 0.0])
    log_phi = log_expected_normcdf(mu, var)
    assert np.isfinite(log_phi).all()
    assert float(log_phi[0]) == pytest.approx(-5e5 - np.log(1e3 * np.sqrt(2 * np.pi)), rel=1e-6)


@pytest.mark.parametrize("fn", [pl.expected_normcdf, pl.expected_sigmoid, pl.expected_exp])
def test_grads(fn):
    mu, var = jnp.array([-1.2, 0.3, 2.0]), jnp.array([0.4, 1.5, 0.2])
    check_grads(fn, (mu, var), order=1, modes=("fwd", "rev"))
