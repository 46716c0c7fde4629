"""The paper's sim1 setting: SIC beats its mean-field ablation at the test points (slow)."""

import numpy as np
import pytest

import probapprox as pa

pytestmark = pytest.mark.slow

LENGTHSCALE = np.array([0.25, 0.5, 0.75, 1.0, 1.25])
N_TRAIN, N_TEST = 2000, 500


@pytest.fixture(scope="module")
def sim1():
    """x ~ U[0,1]^5, f ~ GP(0, Matérn-3/2 ARD + 1e-4 I) drawn exactly at 2500 points."""
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN + N_TEST, 5))
    kernel = pa.gp.Matern32(LENGTHSCALE, 1.0)
    theta = np.asarray(kernel(x, x)) + 1e-4 * np.eye(len(x))
    f = np.linalg.cholesky(theta) @ rng.standard_normal(len(x))
    f_train = f[:N_TRAIN]
    ys = {
        "gaussian": f_train + 0.1 * rng.standard_normal(N_TRAIN),
        "gaussian_noisy": f_train + 0.5 * rng.standard_normal(N_TRAIN),
        "bernoulli": (rng.random(N_TRAIN) < 1 / (1 + np.exp(-f_train))).astype(float),
        "poisson": rng.poisson(np.exp(f_train)),
    }
    return kernel, x[:N_TRAIN], x[N_TRAIN:], f[N_TRAIN:], ys


LIKELIHOODS = {
    "gaussian": pa.gp.Gaussian(0.01),
    "gaussian_noisy": pa.gp.Gaussian(0.25),
    "bernoulli": "bernoulli",
    "poisson": "poisson",
}


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_sic_beats_mean_field_at_the_test_points(sim1, name):
    kernel, x, x_test, f_test, ys = sim1
    scores = {}
    for variational in ("sic", "diagonal"):
        gp = pa.gp.LatentGP(kernel, LIKELIHOODS[name], rho=1.5, variational=variational)
        gp.fit(x, ys[name], num_epochs=10, learn_hyperparameters=False)
        mean, var = gp.predict_f(x_test)
        rmse = np.sqrt(np.mean((mean - f_test) ** 2))
        nll = np.mean(0.5 * np.log(2 * np.pi * var) + (f_test - mean) ** 2 / (2 * var))
        scores[variational] = (rmse, nll, gp.elbo())
    sic, diag = scores["sic"], scores["diagonal"]
    assert sic[2] > diag[2]  # a higher ELBO
    if name.startswith("gaussian"):
        # Both means are the exact posterior mean under the Vecchia prior (the Laplace start is
        # exact and the mean-field optimum keeps the mean of a Gaussian target), so the RMSEs
        # tie whatever the noise; no correct method can beat it.
        assert sic[0] <= diag[0] * (1 + 2e-3)
        if name == "gaussian":
            # noise variance 0.01 (the paper's): the posterior is nearly diagonal and the test
            # variances are dominated by the kriging term d, so the NLLs tie as well
            assert sic[1] <= diag[1] + 2e-3
        else:
            # noise variance 0.25: posterior correlations matter and mean-field's too-narrow
            # marginals cost it test NLL
            assert sic[1] < diag[1] - 0.01
    else:
        # The RMSE against the true f of two means that both track the posterior mean differs
        # by the draw of f (measured on Poisson: 0.3715 vs 0.3713), so it ties within 0.2 %;
        # the calibrated variances are what SIC buys: a lower test NLL of f.
        assert sic[0] <= diag[0] * (1 + 2e-3)
        assert sic[1] < diag[1]
