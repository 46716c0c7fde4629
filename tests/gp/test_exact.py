"""Exact mode of LatentGP (dense pattern): CVI sites against closed forms and dense VI."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.optimize import minimize

import probapprox as pa
from probapprox.gp._exact import _evaluate as evaluate
from probapprox.gp._exact import _models, _q, _site_grad, converge_sites, fit_exact

NUGGET = 1e-4


def _draw(n, d, seed, kernel):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    theta = np.asarray(kernel(x, x)) + NUGGET * np.eye(n)
    return rng, x, np.linalg.cholesky(theta) @ rng.standard_normal(n)


def test_gaussian_n300_d5_is_the_exact_posterior():
    """Default settings at n = 300 (exact mode): marginals and predictions to float64 accuracy."""
    kernel = pa.gp.Matern32(np.array([0.25, 0.5, 0.75, 1.0, 1.25]), 1.0)
    rng, x, f = _draw(360, 5, 0, kernel)
    noise = 0.01
    y = f + math.sqrt(noise) * rng.standard_normal(360)
    xt, x, y = x[300:], x[:300], y[:300]
    gp = pa.gp.LatentGP(kernel, pa.gp.Gaussian(noise), nugget=NUGGET)
    gp.fit(x, y, learn_hyperparameters=False)
    assert gp.exact_ and gp.fitted_.newton_steps[0] <= 3  # one CVI step is exact
    theta = np.asarray(kernel(x, x)) + NUGGET * np.eye(300)
    kn = theta + noise * np.eye(300)
    for x_new, train in ((x, True), (xt, False)):
        ks = theta if train else np.asarray(kernel(xt, x))
        m_ex = ks @ np.linalg.solve(kn, y)
        prior = 1.0 + NUGGET
        v_ex = prior - np.sum(ks * np.linalg.solve(kn, ks.T).T, axis=1)
        mean, var = gp.marginals() if train else gp.predict_f(x_new)
        assert np.max(np.abs(mean - m_ex) / np.sqrt(v_ex)) < 1e-6
        assert np.max(np.abs(var / v_ex - 1.0)) < 1e-6
    log_z = -0.5 * (y @ np.linalg.solve(kn, y) + np.linalg.slogdet(kn)[1] + 300 * np.log(2 * np.pi))
    np.testing.assert_allclose(gp.elbo(), log_z, rtol=1e-8)


def _dense_vi_elbo(kernel, lik, x, y, m, chol_s):
    """ELBO of N(m, S = C Cᵀ) written directly (independent of the site parametrisation)."""
    n = len(y)
    theta = kernel(x, x) + NUGGET * jnp.eye(n)
    lk = jnp.linalg.cholesky(theta)
    a = jax.scipy.linalg.solve_triangular(lk, chol_s, lower=True)
    b = jax.scipy.linalg.solve_triangular(lk, m, lower=True)
    logdet = 2 * jnp.sum(jnp.log(jnp.diag(lk))) - 2 * jnp.sum(jnp.log(jnp.abs(jnp.diag(chol_s))))
    kl = 0.5 * (jnp.sum(a * a) + jnp.sum(b * b) - n + logdet)
    var = jnp.sum(chol_s * chol_s, axis=1)
    return jnp.sum(lik.expected_log_prob(y, m, var)) - kl


def _np(value_and_grad):
    return lambda z: [np.asarray(v, np.float64) for v in value_and_grad(z)]


def _bernoulli(n, seed):
    kernel = pa.gp.Matern32(0.3, 2.0)
    rng, x, f = _draw(n, 2, seed, kernel)
    y = (rng.random(n) < 1 / (1 + np.exp(-f))).astype(float)
    return kernel, x, y


@pytest.mark.parametrize("name", ["bernoulli", "poisson"])
def test_cvi_reaches_the_optimal_full_covariance_gaussian(name):
    kernel, x, y = _bernoulli(30, 1)
    if name == "poisson":
        y = (
            np.random.default_rng(2)
            .poisson(np.exp(np.asarray(kernel(x, x))[0] * 0.5))
            .astype(float)
        )
    lik = pa.gp.make_likelihood(name)
    q, *_ = fit_exact(
        kernel,
        lik,
        jnp.asarray(x),
        jnp.asarray(y),
        jnp.asarray(0.0),
        NUGGET,
        learn=False,
        tol=1e-10,
    )
    n = len(y)
    tril = np.tril_indices(n)

    def unpack(z):
        return z[:n], jnp.zeros((n, n)).at[tril].set(z[n:])

    neg = jax.jit(jax.value_and_grad(lambda z: -_dense_vi_elbo(kernel, lik, x, y, *unpack(z))))
    z0 = np.concatenate([np.zeros(n), np.eye(n)[tril]])
    opts = {"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-9}
    res = minimize(_np(neg), z0, jac=True, method="L-BFGS-B", options=opts)
    m_ref, c_ref = unpack(res.x)
    assert float(q.elbo) >= -res.fun - 1e-6  # CVI is at least as good as the direct optimum
    np.testing.assert_allclose(float(q.elbo), -res.fun, atol=1e-5)
    np.testing.assert_allclose(q.mean, m_ref, atol=1e-3)
    np.testing.assert_allclose(q.var, np.sum(np.asarray(c_ref) ** 2, axis=1), rtol=1e-3)
    # the direct ELBO at q's (m, S) equals the site formula's
    s_full = np.linalg.cholesky(
        np.linalg.inv(np.linalg.inv(np.asarray(kernel(x, x)) + NUGGET * np.eye(n)) + np.diag(q.lam))
    )
    direct = _dense_vi_elbo(kernel, lik, x, y, q.mean, jnp.asarray(s_full))
    np.testing.assert_allclose(float(direct), float(q.elbo), rtol=1e-9)


def _converged(hyper, lik, x, y, kernel_cls):
    ev = lambda lam, eta: evaluate(hyper, kernel_cls, lik, x, y, 0.0, NUGGET, lam, eta)  # noqa: E731
    q, _ = converge_sites(ev, jnp.zeros_like(y), jnp.zeros_like(y), tol=1e-12, max_iter=200)
    return q


@pytest.mark.parametrize("name", ["bernoulli", "gaussian"])
def test_hyperparameter_gradient_is_that_of_the_converged_elbo(name):
    """The closed-form ∇θ (q held) = autodiff with the sites held = finite differences of
    max_q ELBO(q, θ) (envelope theorem); the Gaussian case also checks the noise gradient."""
    kernel, x, y = _bernoulli(40, 3)
    x, y = jnp.asarray(x), jnp.asarray(y)
    lik = pa.gp.make_likelihood(name)
    if name == "gaussian":
        y = y + 0.3 * jnp.sin(7 * x[:, 0])
    hyper = {"kernel": pa.gp.Matern32(0.5, 1.2).to_unconstrained(), "likelihood": {}}
    hyper["likelihood"] = lik.to_unconstrained()
    q = _converged(hyper, lik, x, y, pa.gp.Matern32)
    grad = _site_grad(hyper, pa.gp.Matern32, lik, x, y, NUGGET, q)

    def held(h):  # the ELBO with the sites held, differentiated through the factorisation
        kern, lk = _models(h, pa.gp.Matern32, lik)
        return _q(kern, lk, x, y, 0.0, NUGGET, q.lam, q.eta).elbo

    auto = jax.grad(held)(hyper)
    np.testing.assert_allclose(ravel_pytree(grad)[0], ravel_pytree(auto)[0], rtol=1e-6, atol=1e-8)
    flat, unravel = ravel_pytree(hyper)
    g = ravel_pytree(grad)[0]
    h = 1e-5
    for i in range(flat.shape[0]):
        e = jnp.zeros_like(flat).at[i].set(h)
        up = _converged(unravel(flat + e), lik, x, y, pa.gp.Matern32).elbo
        down = _converged(unravel(flat - e), lik, x, y, pa.gp.Matern32).elbo
        np.testing.assert_allclose(g[i], (up - down) / (2 * h), rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(g) > 1e-2)  # not at the optimum: the check has teeth


def test_learned_hyperparameters_are_the_dense_vi_type2_optimum():
    """Exact mode's L-BFGS on the converged ELBO = joint maximisation over (θ, m, S)."""
    kernel, x, y = _bernoulli(25, 4)
    lik = pa.gp.make_likelihood("bernoulli")
    gp = pa.gp.LatentGP(pa.gp.Matern32(0.5, 1.0), lik, nugget=NUGGET).fit(x, y)
    n = len(y)
    tril = np.tril_indices(n)

    def neg(z):
        k = pa.gp.Matern32(jnp.exp(z[0]), jnp.exp(z[1]))
        c = jnp.zeros((n, n)).at[tril].set(z[2 + n :])
        return -_dense_vi_elbo(k, lik, x, y, z[2 : 2 + n], c)

    vg = jax.jit(jax.value_and_grad(neg))
    z0 = np.concatenate([np.log([0.5, 1.0]), np.zeros(n), np.eye(n)[tril]])
    opts = {"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-8}
    res = minimize(_np(vg), z0, jac=True, method="L-BFGS-B", options=opts)
    assert gp.elbo() >= -res.fun - 1e-5
    np.testing.assert_allclose(gp.elbo(), -res.fun, atol=1e-4)
    np.testing.assert_allclose(
        np.log([float(gp.kernel_.lengthscale), float(gp.kernel_.variance)]), res.x[:2], atol=2e-2
    )


def test_the_mode_follows_the_pattern(monkeypatch):
    """Default: exact up to EXACT_MAX_N points, then ρ = 2; a finite sparse ρ stays sparse."""
    import probapprox.gp._latent_gp as latent

    kernel, x, y = _bernoulli(40, 5)
    kw = {"num_epochs": 1, "stages": (0,), "learn_hyperparameters": False}  # no epochs

    def fit(**options):
        return pa.gp.LatentGP(kernel, "bernoulli", init="prior", **options).fit(x, y, **kw)

    assert fit().exact_ and fit(rho=math.inf).exact_ and fit(num_neighbors=40).exact_
    sparse = fit(rho=1.2)
    assert not sparse.exact_ and sparse.pattern_.max_neighbors < 40
    diag = fit(variational="diagonal")
    assert not diag.exact_ and diag.pattern_.rho == 2.0
    monkeypatch.setattr(latent, "EXACT_MAX_N", 30)
    big = fit()
    assert not big.exact_ and big.pattern_.rho == 2.0
    with pytest.raises(ValueError, match="rho"):
        pa.gp.LatentGP(kernel, "bernoulli", rho=-1.0)
