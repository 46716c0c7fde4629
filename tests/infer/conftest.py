"""Small models shared by the infer tests."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest


def linreg_model(X, y=None):
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([X.shape[1]]).to_event(1))
    numpyro.deterministic("beta_norm", jnp.linalg.norm(beta))
    numpyro.sample("obs", dist.Normal(X @ beta, 0.5), obs=y)


def hier_model(y, sigma):
    """Eight-schools-like model with a positive site and a plate."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(5.0))
    with numpyro.plate("J", y.shape[0]):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        numpyro.deterministic("theta", mu + tau * z)
        numpyro.sample("obs", dist.Normal(mu + tau * z, sigma), obs=y)


@pytest.fixture(scope="session")
def linreg_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -0.5, 0.25]) + 0.5 * rng.normal(size=50)
    return X, y


@pytest.fixture(scope="session")
def hier_data():
    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    return y, sigma
