"""Tests for Pareto-smoothed importance sampling (probapprox.diagnostics._psis)."""

import math

import numpy as np
import pytest
from scipy import stats

from probapprox.diagnostics._psis import PSISResult, gpd_fit, psis, psis_khat_threshold


def _gauss_log_weights(scale, num, seed):
    """log N(x|0,1) - log N(x|0,scale^2) at x ~ N(0, scale^2): true k = 1 - scale^2."""
    x = np.random.default_rng(seed).normal(0.0, scale, num)
    return stats.norm.logpdf(x) - stats.norm.logpdf(x, 0.0, scale)


def _gpd_draws(xi, sigma, num, seed):
    """Exact GPD draws by inverse CDF: x = sigma ((1 - u)^(-xi) - 1) / xi."""
    u = np.random.default_rng(seed).uniform(size=num)
    return sigma * np.expm1(-xi * np.log1p(-u)) / xi


# --- known answers -------------------------------------------------------------------------


@pytest.mark.parametrize(("scale", "true_k"), [(0.5, 0.75), (0.8, 0.36)])
def test_khat_gaussian_proposal_known_answer(scale, true_k):
    # k-hat is noisy (sd ~0.05 at 1e5 draws) and biased low before the asymptote
    # (~0.70 for scale 0.5), so average 8 fixed-seed replicates of 1e5 draws.
    ks = [psis(_gauss_log_weights(scale, 10**5, seed)).pareto_k for seed in range(8)]
    assert np.mean(ks) == pytest.approx(true_k, abs=0.1)
    assert all(k > 0.2 for k in ks)  # heavy tail every time: right sign


def test_khat_wide_proposal_is_small():
    # q wider than p: bounded weights, the tail is short (k-hat is about -1.8).
    res = psis(_gauss_log_weights(1.5, 10**5, seed=0))
    assert res.pareto_k < 0.3
    assert res.pareto_k < psis_khat_threshold(10**5)


@pytest.mark.parametrize("xi", [0.2, 0.5, 0.9])
def test_gpd_fit_recovers_exact_gpd(xi):
    sigma = 2.0
    x = _gpd_draws(xi, sigma, 10**4, seed=0)
    k_hat, sigma_hat = gpd_fit(x)
    assert k_hat == pytest.approx(xi, abs=0.05)
    assert sigma_hat == pytest.approx(sigma, rel=0.05)
    # Zhang-Stephens is close to the maximum-likelihood fit at this n.
    k_mle, _, sigma_mle = stats.genpareto.fit(x, floc=0.0)
    assert k_hat == pytest.approx(k_mle, abs=0.01)
    assert sigma_hat == pytest.approx(sigma_mle, rel=0.01)


def test_gpd_fit_bounded_tail_and_prior_shrinkage():
    # Uniform(0, 1) is a GPD with k = -1, sigma = 1.
    x = np.random.default_rng(0).uniform(size=10**4)
    k_hat, sigma_hat = gpd_fit(x)
    assert k_hat == pytest.approx(-1.0, abs=0.05)
    assert sigma_hat == pytest.approx(1.0, rel=0.05)
    # With few points the prior (10 pseudo-observations at 0.5) pulls k up a lot.
    k_small, _ = gpd_fit(x[:10])
    k_large, _ = gpd_fit(x[:5000])
    assert k_small > k_large + 0.3


def test_gpd_fit_is_order_and_scale_invariant():
    x = _gpd_draws(0.5, 1.0, 500, seed=3)
    k1, s1 = gpd_fit(x)
    k2, s2 = gpd_fit(np.random.default_rng(1).permutation(x) * 7.0)
    assert k2 == pytest.approx(k1, abs=1e-10)
    assert s2 == pytest.approx(7.0 * s1, rel=1e-10)


# --- cross-check against ArviZ ---------------------------------------------------------


@pytest.mark.parametrize(("scale", "num"), [(0.3, 10**4), (0.5, 10**4), (0.8, 400)])
def test_matches_arviz_stats_psislw(scale, num):
    array_stats = pytest.importorskip("arviz_stats.base").array_stats
    lw = _gauss_log_weights(scale, num, seed=1)
    # psislw follows the LOO convention and negates its input: pass -log w.
    # For S > 225 it uses M = floor(3 sqrt(S)); S = 1e4 and 400 make that equal to ours.
    their_lw, their_k = array_stats.psislw(-lw)
    ours = psis(lw)
    assert ours.tail_length == math.floor(3 * math.sqrt(num))
    assert ours.pareto_k == pytest.approx(float(their_k), abs=0.02)  # agree to ~1e-15
    np.testing.assert_allclose(ours.log_weights, their_lw, atol=1e-8)


# --- smoothing -----------------------------------------------------------------------------


def test_smoothing_properties():
    lw = _gauss_log_weights(0.5, 10**4, seed=2)
    res = psis(lw)
    out = res.log_weights
    num, tail_len = lw.size, res.tail_length
    assert tail_len == 300
    assert np.sum(np.exp(out)) == pytest.approx(1.0, abs=1e-12)

    order = np.argsort(lw, kind="stable")
    body, tail = order[: num - tail_len], order[num - tail_len :]
    # Body unchanged up to one normalising constant.
    shift = lw[body] - out[body]
    np.testing.assert_allclose(shift, shift[0], atol=1e-10)
    unnorm = out + shift[0]
    # Rank order kept (ties allowed) and nothing above the largest raw weight.
    assert np.all(np.diff(unnorm[order]) >= -1e-12)
    assert np.max(unnorm) <= np.max(lw) + 1e-12
    # The tail is exactly cutoff + GPD quantiles at (i - 1/2)/M, truncated at the max.
    lw_max = np.max(lw)
    cutoff = np.exp(lw[order[num - tail_len - 1]] - lw_max)
    k, sigma = gpd_fit(np.exp(lw[tail] - lw_max) - cutoff)
    assert k == pytest.approx(res.pareto_k)
    p = (np.arange(1, tail_len + 1) - 0.5) / tail_len
    expected = np.minimum(cutoff + stats.genpareto.ppf(p, k, scale=sigma), 1.0)
    np.testing.assert_allclose(np.exp(unnorm[tail] - lw_max), expected, rtol=1e-10)
    assert not np.allclose(unnorm[tail], lw[tail])  # smoothing did something


def test_output_follows_input_order_and_is_shift_invariant():
    lw = _gauss_log_weights(0.6, 2000, seed=4)
    perm = np.random.default_rng(0).permutation(lw.size)
    res = psis(lw)
    res_perm = psis(lw[perm])
    np.testing.assert_allclose(res_perm.log_weights, res.log_weights[perm], atol=1e-12)
    assert res_perm.pareto_k == pytest.approx(res.pareto_k, abs=1e-12)
    res_shift = psis(lw + 1234.5)
    np.testing.assert_allclose(res_shift.log_weights, res.log_weights, atol=1e-9)
    assert res_shift.pareto_k == pytest.approx(res.pareto_k, abs=1e-9)


def test_zero_weights_allowed():
    lw = _gauss_log_weights(0.7, 1000, seed=5)
    lw[:50] = -np.inf
    res = psis(lw)
    assert np.all(res.log_weights[:50] == -np.inf)
    assert np.all(np.isfinite(res.log_weights[50:]))
    assert np.isfinite(res.pareto_k)
    assert np.sum(np.exp(res.log_weights)) == pytest.approx(1.0, abs=1e-12)


# --- ESS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("num", [30, 1000, 10**4])
def test_equal_weights(num):
    res = psis(np.full(num, -3.7))
    assert isinstance(res, PSISResult)
    assert res.ess == pytest.approx(num, rel=1e-12)
    assert res.pareto_k == -math.inf  # bounded (degenerate) tail, no smoothing
    np.testing.assert_allclose(res.log_weights, -np.log(num), atol=1e-12)


def test_one_dominant_weight():
    lw = np.zeros(1000)
    lw[7] = 50.0
    res = psis(lw)
    # 94 of the 95 tail weights tie with the cutoff: no GPD fit, no smoothing.
    assert res.pareto_k == math.inf
    assert res.ess == pytest.approx(1.0, abs=1e-12)
    assert res.log_weights[7] == pytest.approx(0.0, abs=1e-12)


def test_one_dominant_weight_among_distinct_weights():
    # Smoothing caps the outlier, so the ESS is no longer ~1; k-hat flags it instead.
    lw = 0.1 * np.random.default_rng(0).normal(size=1000)
    lw[7] = 50.0
    res = psis(lw)
    assert res.pareto_k > 1.0
    assert res.ess < 0.2 * lw.size
    assert np.argmax(res.log_weights) == 7


def test_ess_formula():
    res = psis(_gauss_log_weights(0.8, 5000, seed=6))
    w = np.exp(res.log_weights)
    assert res.ess == pytest.approx(1.0 / np.sum(w**2), rel=1e-10)
    assert 1.0 < res.ess < 5000


# --- bad input and small samples -----------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_posinf_raises(bad):
    lw = np.zeros(100)
    lw[[3, 10, 11]] = bad
    with pytest.raises(ValueError, match=r"log_weights.*3 of 100"):
        psis(lw)


@pytest.mark.parametrize("lw", [np.zeros((10, 10)), np.zeros(0), np.full(30, -np.inf)])
def test_bad_shapes_and_all_zero_weights_raise(lw):
    with pytest.raises(ValueError, match="log_weights"):
        psis(lw)


@pytest.mark.parametrize("num", [1, 2, 9, 20])
def test_too_few_draws_gives_infinite_k(num):
    # M = ceil(S/5) < 5 for S <= 20: documented as k = inf, weights only normalised.
    lw = np.random.default_rng(0).normal(size=num)
    res = psis(lw)
    assert res.pareto_k == math.inf
    np.testing.assert_allclose(res.log_weights, lw - np.log(np.sum(np.exp(lw))), atol=1e-12)


def test_smallest_fitted_sample():
    res = psis(_gauss_log_weights(0.5, 21, seed=0))
    assert res.tail_length == 5
    assert np.isfinite(res.pareto_k)


@pytest.mark.parametrize(
    "x", [np.zeros(10), np.array([1.0, -1.0, 2.0]), np.array([1.0, np.nan]), np.zeros((2, 2))]
)
def test_gpd_fit_bad_input(x):
    with pytest.raises(ValueError, match="exceedances"):
        gpd_fit(x)


# --- threshold -----------------------------------------------------------------------------


def test_khat_threshold():
    assert psis_khat_threshold(10) == pytest.approx(0.0)
    assert psis_khat_threshold(100) == pytest.approx(0.5)
    assert psis_khat_threshold(1000) == pytest.approx(2.0 / 3.0)
    assert psis_khat_threshold(2000) < 0.7
    assert psis_khat_threshold(3000) == 0.7
    assert psis_khat_threshold(10**6) == 0.7
    assert psis_khat_threshold(1) == -math.inf


@pytest.mark.parametrize("num", [0, -5, 2.5, True, "100"])
def test_khat_threshold_bad_input(num):
    with pytest.raises(ValueError, match="num_samples"):
        psis_khat_threshold(num)
