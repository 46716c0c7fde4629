"""Dirichlet moment matching against a Monte Carlo transcription of the formula."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtr

from probapprox import logits as pl


def mc_alpha(mu, var, n=400_000, seed=0):
    """α from Monte Carlo moments of Φ(z), using the formula as written (no rewriting)."""
    rng = np.random.default_rng(seed)
    g = ndtr(mu + np.sqrt(var) * rng.standard_normal((n, mu.size)))
    m1, m2 = g.mean(0), (g**2).mean(0)
    s = max(m1.sum(), 1.0)
    ratio = np.maximum((m1 * s - m2) / (m2 - m1**2), 1e-10)
    return np.exp(np.mean(np.log(ratio))) * m1 / s


@pytest.mark.parametrize("seed", [0, 1])
def test_probit_alpha_matches_mc_moments(seed):
    rng = np.random.default_rng(seed)
    mu, var = rng.normal(size=4) * 1.5, rng.uniform(0.5, 3.0, 4)
    got = np.asarray(pl.dirichlet_alpha(mu, var))
    # MC error of the log-ratio is a few per cent at 4e5 draws
    np.testing.assert_allclose(got, mc_alpha(mu, var, seed=seed + 10), rtol=0.05)


def test_alpha_uses_exact_moments():
    mu, var = np.array([1.0, -0.3, 0.4]), np.array([0.7, 2.0, 1.1])
    m1 = np.asarray(pl.expected_normcdf(mu, var))
    m2 = np.asarray(pl.expected_normcdf_sq(mu, var))
    s = max(m1.sum(), 1.0)
    want = np.exp(np.mean(np.log((m1 * s - m2) / (m2 - m1**2)))) * m1 / s
    np.testing.assert_allclose(pl.dirichlet_alpha(mu, var), want, rtol=1e-9)


def test_concentration_grows_as_variance_shrinks():
    mu = jnp.array([1.0, -0.5, 0.0])
    totals = [
        float(pl.dirichlet_alpha(mu, jnp.full(3, v), link=link).sum())
        for link in ("probit", "sigmoid")
        for v in (10.0, 1.0, 0.1, 1e-3)
    ]
    for chain in (totals[:4], totals[4:]):
        assert all(a < b for a, b in zip(chain, chain[1:], strict=False))
    # a near-deterministic logit gives a near-deterministic Dirichlet (capped at ~1e10)
    assert float(pl.dirichlet_alpha(mu, jnp.full(3, 1e-14)).sum()) > 1e8


def test_extremes_are_finite():
    mu = jnp.array([[1e3, -1e3, 0.0], [-40.0, -40.0, -40.0]])
    var = jnp.array([[1e6, 0.0, 1.0], [0.0, 0.0, 0.0]])
    for link in ("probit", "sigmoid"):
        alpha = np.asarray(pl.dirichlet_alpha(mu, var, link=link))
        assert np.isfinite(alpha).all() and (alpha >= 0).all()
        p = np.asarray(pl.predictive(mu, var, "dirichlet", link=link))
        np.testing.assert_allclose(p.sum(-1), 1.0)
    np.testing.assert_allclose(pl.predictive(mu, var, "dirichlet")[1], np.full(3, 1 / 3))


def test_bad_link():
    with pytest.raises(ValueError, match="link"):
        pl.dirichlet_alpha(jnp.zeros(3), jnp.ones(3), link="softmax")
