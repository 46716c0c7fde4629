"""Subsampled plates through ``pa.fit`` with default settings (issue 21, item 1).

Exact references: a linear regression with known noise has a Gaussian posterior and a closed
form evidence, so the warm start (full-data MAP and Hessian) is the exact posterior, and the
diagnostics of that Gaussian have constant importance weights equal to the log evidence.
"""

import warnings

import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from scipy.stats import multivariate_normal

import probapprox as pa
from probapprox.infer import _subsample

N, B = 400, 40


def model(x, y):
    a = numpyro.sample("a", dist.Normal(0.0, 10.0))
    b = numpyro.sample("b", dist.Normal(0.0, 10.0))
    with numpyro.plate("n", x.shape[0], subsample_size=B) as idx:
        numpyro.sample("y", dist.Normal(a + b * x[idx], 1.0), obs=y[idx])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    y = 1.0 + 2.0 * x + rng.normal(size=N)
    design = np.stack([np.ones(N), x], axis=1)
    prec = design.T @ design + np.eye(2) / 100.0
    cov = np.linalg.inv(prec)
    mean = cov @ design.T @ y
    evidence = multivariate_normal(np.zeros(N), 100.0 * design @ design.T + np.eye(N)).logpdf(y)
    return x, y, mean, cov, evidence


def _frozen_fit(x, y, guide="AutoMultivariateNormal"):
    # a zero step size keeps the warm start: the full-data Laplace Gaussian
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pa.ConvergenceWarning)
        return pa.fit(model, guide, x, y, num_steps=5, optimizer=optax.sgd(0.0), progress=False)


def test_warm_start_uses_the_full_data(data):
    x, y, mean, cov, _ = data
    res = _frozen_fit(x, y)
    assert res.info["warm_start"].startswith("dense whitening")
    assert res.info["subsampled_plates"] == {"n": [N, B]}
    np.testing.assert_allclose(res.params["auto_loc"], mean, rtol=1e-6)
    tril = res.params["auto_scale_tril"]
    np.testing.assert_allclose(tril @ tril.T, cov, rtol=1e-6)


def test_diagnostics_and_arviz_use_the_full_data(data):
    x, y, _, _, evidence = data
    res = _frozen_fit(x, y)
    diag = res.diagnostics(num_samples=2000, warn=False)
    # q is the exact posterior: log p(x, θ) - log q(θ) = log p(x) for every draw
    np.testing.assert_allclose(diag.elbo, evidence, rtol=1e-8)
    assert diag.elbo_se < 1e-6
    assert not any("subsampled" in w for w in diag.warnings)
    tree = res.to_arviz(num_samples=50)
    assert tree["observed_data"]["y"].shape == (N,)
    assert tree["log_likelihood"]["y"].shape == (1, 50, N)
    np.testing.assert_allclose(tree["observed_data"]["y"].values, y)


@pytest.mark.parametrize(
    "guide",
    [
        "AutoNormal",
        pytest.param("AutoDiagonalNormal", marks=pytest.mark.slow),
        pytest.param("AutoLowRankMultivariateNormal", marks=pytest.mark.slow),
    ],
)
def test_default_settings_fit_every_gaussian_autoguide(data, guide):
    x, y, mean, _, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pa.ConvergenceWarning)
        res = pa.fit(model, guide, x, y, num_steps=100, progress=False)
    assert "whitening at the MAP" in res.info["warm_start"]
    draws = res.sample(2000)
    np.testing.assert_allclose([draws["a"].mean(), draws["b"].mean()], mean, atol=0.1)
    res.to_arviz(num_samples=20)


def test_above_the_thresholds_the_notes_say_so(data, monkeypatch):
    x, y, _, _, _ = data
    monkeypatch.setattr(_subsample, "FULL_DATA_MAX", N - 1)
    monkeypatch.setattr(_subsample, "FULL_DATA_ENTRIES", 150 * N)
    res = _frozen_fit(x, y)
    assert res.info["warm_start"].startswith("not applied: the subsampled plates 'n' (40 of 400)")
    diag = res.diagnostics(num_samples=200, warn=False)
    assert any("log p is a subsampled estimate" in w for w in diag.warnings)
    with pytest.warns(UserWarning, match="Skipping the log_likelihood group"):
        tree = res.to_arviz(num_samples=200)
    assert "log_likelihood" not in tree.children
    small = res.diagnostics(num_samples=100, warn=False)  # 100 x 400 <= 150 x 400: exact again
    assert not any("subsampled" in w for w in small.warnings)


def test_full_data_handler_is_the_plain_model():
    def plain(x):
        with numpyro.plate("n", 7):
            numpyro.sample("y", dist.Normal(0.0, 1.0), obs=x)

    def sub(x):
        with numpyro.plate("n", 7, subsample_size=3) as idx:
            numpyro.sample("y", dist.Normal(0.0, 1.0), obs=x[idx])

    x = np.arange(7.0)
    lp_plain = numpyro.infer.util.log_density(plain, (x,), {}, {})[0]
    lp_full = numpyro.infer.util.log_density(_subsample.full_data(sub), (x,), {}, {})[0]
    np.testing.assert_allclose(lp_full, lp_plain, rtol=1e-14)
    assert _subsample.subsampled_plates(sub, (x,), {}) == {"n": (7, 3)}
    assert _subsample.subsampled_plates(plain, (x,), {}) == {}
