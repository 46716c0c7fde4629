"""VecchiaGP: the KL-optimal SIC prior as a NumPyro distribution, against dense Gaussians."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.test_util import check_grads
from numpyro.infer.util import log_density
from scipy.stats import multivariate_normal

import probapprox as pa
import probapprox.linalg as pl
from probapprox.gp import Matern32, VecchiaGP

N = 40


def problem(n=N, d=2, seed=0, **pattern_kw):
    X = np.random.default_rng(seed).uniform(size=(n, d))
    pattern = pa.ordering.build_pattern(X, lengthscale=0.3, **pattern_kw)
    return X, pattern


def dense_precision(prior):
    n = prior.event_shape[0]
    U = np.asarray(pl.to_dense(prior.precision_values, prior.pattern.idx, n))
    return U @ U.T  # maximin order


def to_original(mat, perm):
    """A maximin-order matrix re-indexed like X."""
    inv = np.argsort(perm)
    return mat[np.ix_(inv, inv)]


def test_log_prob_equals_dense_gaussian_with_the_factor_precision():
    X, pattern = problem(rho=2.0)
    assert pattern.max_neighbors < N  # a genuinely sparse pattern
    mean = np.linspace(-1.0, 1.0, N)  # not constant: the permutation matters
    prior = VecchiaGP(Matern32(lengthscale=0.3, variance=1.5), X, pattern, mean=mean)
    cov = to_original(np.linalg.inv(dense_precision(prior)), pattern.perm)
    f = multivariate_normal(mean, cov).rvs(3, random_state=1)
    ref = multivariate_normal(mean, cov).logpdf(f)
    np.testing.assert_allclose(prior.log_prob(f), ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(prior.log_prob(f[0]), ref[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(prior.mean, mean)
    # entropy of the same Gaussian
    np.testing.assert_allclose(
        prior.entropy(), multivariate_normal(mean, cov).entropy(), atol=1e-10
    )


@pytest.mark.parametrize("pattern_kw", [{"rho": 1e6}, {"num_neighbors": N}], ids=["rho", "knn"])
def test_dense_pattern_is_the_exact_gp(pattern_kw):
    X, pattern = problem(**pattern_kw)
    kernel = Matern32(lengthscale=0.4, variance=0.8)
    prior = VecchiaGP(kernel, X, pattern, mean=0.3, nugget=1e-3)
    cov = np.asarray(kernel(X, X)) + 1e-3 * np.eye(N)
    exact = multivariate_normal(np.full(N, 0.3), cov)
    f = exact.rvs(4, random_state=2)
    np.testing.assert_allclose(prior.log_prob(f), exact.logpdf(f), rtol=0, atol=1e-8)


def test_samples_have_the_factor_covariance_and_are_reproducible():
    X, pattern = problem(rho=2.0)
    mean = np.sin(3 * X[:, 0])
    prior = VecchiaGP(Matern32(lengthscale=0.3), X, pattern, mean=mean)
    cov = to_original(np.linalg.inv(dense_precision(prior)), pattern.perm)
    num = 20_000
    f = np.asarray(prior.sample(jax.random.PRNGKey(3), (num,)))
    assert f.shape == (num, N)
    # Monte Carlo: se of a mean is sd/sqrt(num), of a covariance entry at most
    # sqrt(2/num) max(var); allow 5 standard errors.
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(f.mean(0) - mean) < 5 * sd / np.sqrt(num))
    assert np.abs(np.cov(f.T) - cov).max() < 5 * np.sqrt(2.0 / num) * cov.diagonal().max()
    again = prior.sample(jax.random.PRNGKey(3), (2, 3))
    assert again.shape == (2, 3, N)
    np.testing.assert_array_equal(again, prior.rsample(jax.random.PRNGKey(3), (2, 3)))


def test_gradients_flow_to_the_kernel_hyperparameters_and_the_mean():
    X, pattern = problem(n=15, rho=2.5)
    f = np.random.default_rng(4).normal(size=15)

    def log_prob(log_ell, log_var, mean):
        kernel = Matern32(lengthscale=jnp.exp(log_ell), variance=jnp.exp(log_var))
        return VecchiaGP(kernel, X, pattern, mean=mean).log_prob(f)

    args = (jnp.array([np.log(0.3), np.log(0.5)]), jnp.array(0.2), jnp.array(0.1))
    check_grads(jax.jit(log_prob), args, order=1, modes=("fwd", "rev"))
    # under jit the value is the same as eager
    np.testing.assert_allclose(jax.jit(log_prob)(*args), log_prob(*args), rtol=1e-12)


def test_traced_hyperparameters_in_a_numpyro_model():
    X, pattern = problem(n=20, rho=2.0)

    def model():
        ell = numpyro.sample("ell", dist.LogNormal(-1.0, 0.3))
        numpyro.sample("f", VecchiaGP(Matern32(lengthscale=ell), X, pattern))

    values = {"ell": jnp.array(0.4), "f": jnp.zeros(20)}

    def log_joint(v):
        return log_density(model, (), {}, v)[0]

    grads = jax.jit(jax.grad(log_joint))(values)
    assert np.isfinite(grads["ell"]) and grads["ell"] != 0.0
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace()
    assert tr["f"]["value"].shape == (20,)


def test_bad_inputs_have_clear_errors():
    X, pattern = problem(n=20, rho=2.0)
    kernel = Matern32(lengthscale=0.3)
    _, other = problem(n=25, rho=2.0)
    with pytest.raises(ValueError, match=r"pattern=\.\.\.\) was built for n = 25 .* 20 rows"):
        VecchiaGP(kernel, X, other)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"X=\.\.\.\) contains NaN or inf .* row 3"):
        VecchiaGP(kernel, bad, pattern)
    with pytest.raises(ValueError, match=r"X\[:, None\]"):
        VecchiaGP(kernel, X[:, 0], pattern)
    with pytest.raises(TypeError, match=r"kernel=\.\.\.\) expects a probapprox.gp kernel"):
        VecchiaGP(lambda a, b: a @ b.T, X, pattern)
    with pytest.raises(TypeError, match=r"pattern=\.\.\.\) expects a probapprox.ordering.Pattern"):
        VecchiaGP(kernel, X, pattern.idx)
    with pytest.raises(ValueError, match=r"mean=\.\.\.\) expects a scalar or an \(n,\)"):
        VecchiaGP(kernel, X, pattern, mean=np.zeros(3))
    with pytest.raises(ValueError, match=r"nugget=\.\.\.\) expects a finite number >= 0"):
        VecchiaGP(kernel, X, pattern, nugget=-1.0)
    with pytest.raises(ValueError, match=r"3 ARD lengthscales but X has d = 2"):
        VecchiaGP(Matern32(lengthscale=np.ones(3)), X, pattern)
    with pytest.raises(ValueError, match=r"log_prob expects values of shape \(\.\.\., 20\)"):
        VecchiaGP(kernel, X, pattern).log_prob(np.zeros(19))


def test_duplicated_inputs_need_the_nugget():
    X = np.repeat(np.random.default_rng(5).uniform(size=(10, 1)), 2, axis=0)
    pattern = pa.ordering.build_pattern(X, rho=1e6)
    kernel = Matern32(lengthscale=0.5)
    assert np.isfinite(VecchiaGP(kernel, X, pattern).log_prob(np.zeros(20)))  # nugget 1e-4
    with pytest.raises(ValueError, match=r"not positive definite .* increase nugget"):
        VecchiaGP(kernel, X, pattern, nugget=0.0)
