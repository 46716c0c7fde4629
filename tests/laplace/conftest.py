"""Small classifiers shared by the Laplace tests."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probapprox.laplace import mlp_apply, mlp_init


def linear_apply(params, X):
    return X @ params["W"] + params["b"]


def nll_total(apply_fn, params, X, y):
    z = apply_fn(params, X)
    return jnp.sum(jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])


@pytest.fixture
def linear_problem():
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(30, 3)))
    y = jnp.asarray(rng.integers(0, 3, size=30))
    params = {"W": jnp.asarray(rng.normal(size=(3, 3))), "b": jnp.asarray(rng.normal(size=3))}
    return linear_apply, params, X, y


@pytest.fixture
def mlp_problem():
    rng = np.random.default_rng(1)
    X = jnp.asarray(rng.normal(size=(25, 2)))
    y = jnp.asarray(rng.integers(0, 3, size=25))
    params = mlp_init(jax.random.PRNGKey(3), (2, 4, 3), jnp.float64)
    params[0]["b"] = jnp.asarray(rng.normal(size=4) * 0.3)
    return mlp_apply, params, X, y
