"""The shared Gauss–Hermite helper: exactness on polynomials, log-space and shifted rules."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probapprox.gp._quadrature import (
    gh_expectation,
    gh_log_expectation,
    gh_log_expectation_shifted,
    gh_points,
)


@pytest.mark.parametrize("num_points", [1, 5, 20])
def test_points_are_a_standard_normal_rule(num_points):
    z, w = gh_points(num_points)
    assert z.shape == w.shape == (num_points,)
    assert w.sum() == pytest.approx(1.0, rel=1e-14)
    for k in range(2 * num_points):  # exact up to degree 2K - 1
        moment = 0.0 if k % 2 else float(np.prod(np.arange(k - 1, 0, -2, dtype=float)))  # (k-1)!!
        scale = float(np.sum(w * np.abs(z) ** k))  # size of the terms that cancel
        assert float(np.sum(w * z**k)) == pytest.approx(moment, rel=1e-12, abs=1e-13 * scale)


def test_expectation_of_exp_and_polynomials():
    mean = jnp.array([[-1.0, 0.0, 2.0]])
    var = jnp.array([[0.5], [2.0]])  # broadcasts to (2, 3)

    @jax.jit
    def all_rules(m, v):
        return (
            gh_expectation(jnp.exp, m, v),
            gh_expectation(lambda f: f**3, m, v, num_points=2),
            gh_log_expectation(lambda f: 0.5 * f, m, v),
            gh_log_expectation(lambda f: f - 1000.0, m, v),
        )

    e, third, le, tiny = all_rules(mean, var)
    assert e.shape == (2, 3)
    np.testing.assert_allclose(e, jnp.exp(mean + var / 2), rtol=1e-12)
    np.testing.assert_allclose(third, mean**3 + 3 * mean * var, rtol=1e-12)
    np.testing.assert_allclose(le, 0.5 * mean + 0.125 * var, rtol=1e-12, atol=1e-14)
    # log-space stays finite where the integrand e^{f - 1000} underflows
    np.testing.assert_allclose(tiny, mean + var / 2 - 1000.0, rtol=1e-12)


def test_zero_variance_and_gradients():
    @jax.jit
    def value_and_grads(v):
        fn = jax.value_and_grad(lambda w: gh_expectation(jnp.sin, 0.7, w))
        return fn(v[0]), fn(v[1])

    (at_zero, g0), (_, g1) = value_and_grads(jnp.array([0.0, 0.4]))
    assert float(at_zero) == pytest.approx(math.sin(0.7), rel=1e-15)
    assert np.isfinite(float(g0))
    # d/dv E[sin f] = -½ E[sin f] = -½ sin(μ) e^{-v/2}
    assert float(g1) == pytest.approx(-0.5 * math.sin(0.7) * math.exp(-0.2), rel=1e-10)


def test_shifted_rule():
    """h = log N(y; f, s²): log E = log N(y; μ, v + s²) (Gaussian conjugacy)."""
    y, s2 = jnp.array([0.3, -1.0]), 0.5
    mean, var = jnp.array([0.0, 0.5]), jnp.array([0.8, 0.3])

    def h(f):
        return -0.5 * jnp.log(2 * jnp.pi * s2) - 0.5 * (y[:, None] - f) ** 2 / s2

    exact = -0.5 * jnp.log(2 * jnp.pi * (var + s2)) - 0.5 * (y - mean) ** 2 / (var + s2)
    # centred at the exact posterior N(c, s²) of f the ratio is constant: exact with one node
    post_var = var * s2 / (var + s2)
    centre = post_var * (mean / var + y / s2)

    @jax.jit
    def rules(v, c, s):
        return (
            gh_log_expectation_shifted(h, mean, v, c, s, num_points=1),
            gh_log_expectation_shifted(h, mean, v, c, s),
        )

    for got in rules(var, centre, post_var):
        np.testing.assert_allclose(got, exact, rtol=1e-13)
    # any other centre and scale converge to the same value
    np.testing.assert_allclose(rules(var, mean + 0.4, 0.6 * var)[1], exact, rtol=1e-9)
    np.testing.assert_allclose(rules(var, mean, var)[1], exact, rtol=1e-7)
    # v = 0: h(μ)
    at_zero = rules(jnp.zeros(2), mean + 0.3, jnp.zeros(2))[1]
    np.testing.assert_allclose(at_zero, h(mean[:, None])[:, 0], rtol=1e-14)


def test_bad_num_points():
    with pytest.raises(ValueError, match=r"gh_points\(num_points=\.\.\.\) expects an integer"):
        gh_points(0)
    with pytest.raises(ValueError, match=r"gh_expectation\(num_points=\.\.\.\) expects an int"):
        gh_expectation(jnp.exp, 0.0, 1.0, num_points=2.5)
