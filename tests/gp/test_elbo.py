"""DKLGP ELBO: exact log evidence at the exact posterior (dense pattern), unbiased minibatches."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

from probapprox.families.sic_gaussian import DIAG_FLOOR, SICParams
from probapprox.gp import Gaussian, Matern32, Poisson
from probapprox.gp._elbo import full_elbo, minibatch_elbo
from probapprox.gp._gp_data import GPData

N, NUGGET, NOISE = 30, 1e-4, 0.1
X = jnp.asarray(np.random.default_rng(0).uniform(size=(N, 2)))
KERNEL = Matern32(lengthscale=jnp.array([0.3, 0.5]), variance=1.0)
THETA = KERNEL(X, X) + NUGGET * jnp.eye(N)
F_TRUE = jnp.linalg.cholesky(THETA) @ jnp.asarray(np.random.default_rng(1).normal(size=N))
Y = F_TRUE + jnp.sqrt(NOISE) * jnp.asarray(np.random.default_rng(2).normal(size=N))


def banded(n, width):
    """Row j = [-1 ... , max(0, j - width + 1), ..., j] (front padded)."""
    rows = np.arange(n)[:, None] + np.arange(-width + 1, 1)[None, :]
    return jnp.asarray(np.where(rows >= 0, rows, -1), dtype=jnp.int32)


def params_from_precision(prec, mean):
    """SIC params whose V is the upper-triangular factor with V V^T = prec."""
    rev = jnp.flip(jnp.eye(prec.shape[0]), 0)
    v = rev @ jnp.linalg.cholesky(rev @ prec @ rev) @ rev  # upper, V V^T = prec
    n = prec.shape[0]
    idx = banded(n, n)
    vals = jnp.stack([jnp.where(idx[j] >= 0, v[jnp.maximum(idx[j], 0), j], 0.0) for j in range(n)])
    return SICParams(mean, vals, jnp.log(vals[:, -1] - DIAG_FLOOR)), idx


def test_elbo_at_the_exact_posterior_is_the_log_evidence():
    prec = jnp.linalg.inv(THETA) + jnp.eye(N) / NOISE
    mean = jnp.linalg.solve(prec, Y / NOISE)
    params, idx = params_from_precision(prec, mean)
    elbo = full_elbo(
        params, KERNEL, Gaussian(NOISE), GPData(X, Y, idx, idx), nugget=NUGGET, batch_size=7
    )
    log_z = jax.scipy.stats.multivariate_normal.logpdf(Y, jnp.zeros(N), THETA + NOISE * jnp.eye(N))
    np.testing.assert_allclose(elbo, log_z, rtol=1e-9)
    # any other q in the family has a lower ELBO
    worse = params._replace(nu=params.nu + 0.1)
    assert full_elbo(worse, KERNEL, Gaussian(NOISE), GPData(X, Y, idx, idx), nugget=NUGGET) < elbo


def test_minibatch_estimates_are_unbiased():
    idx = banded(N, 5)
    key = jax.random.PRNGKey(0)
    k1, k2, k3 = jax.random.split(key, 3)
    params = SICParams(
        0.3 * jax.random.normal(k1, (N,)),
        0.2 * jax.random.normal(k2, (N, 5)),
        0.1 * jax.random.normal(k3, (N,)),
    )
    counts = jnp.asarray(np.random.default_rng(3).poisson(2.0, size=N), dtype=jnp.float64)
    lik = Poisson()
    full = full_elbo(params, KERNEL, lik, GPData(X, counts, idx, idx), nugget=NUGGET)
    cols = jax.vmap(lambda k: jax.random.choice(k, N, (6,), replace=False))(
        jax.random.split(jax.random.PRNGKey(1), 2000)
    )
    data = GPData(X, counts, idx, idx)
    est = jax.jit(jax.vmap(lambda c: minibatch_elbo(params, KERNEL, lik, data, c, nugget=NUGGET)))(
        cols
    )
    se = np.std(est) / np.sqrt(len(est))
    assert abs(np.mean(est) - full) < 3 * se
    assert np.std(est) > 0  # the estimate is random; the test can fail


def test_gradients_reach_the_variational_and_kernel_parameters():
    idx = banded(N, 4)
    params = SICParams(jnp.zeros(N) + 0.1, jnp.full((N, 4), 0.05), jnp.zeros(N))
    cols = jnp.array([3, 10, 29])

    def f(nu, offdiag, log_diag, log_ls):
        kern = Matern32(lengthscale=jnp.exp(log_ls), variance=1.0)
        p = SICParams(nu, offdiag, log_diag)
        return minibatch_elbo(p, kern, Gaussian(NOISE), GPData(X, Y, idx, idx), cols, nugget=NUGGET)

    args = (params.nu, params.offdiag, params.log_diag, jnp.log(jnp.array([0.3, 0.5])))
    check_grads(f, args, order=1, modes=["rev"])
