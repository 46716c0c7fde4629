"""LatentGP: exact GP posterior on the dense pattern, Laplace init, predictions, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import probapprox as pa
from probapprox.gp._fit_loop import stage_data
from probapprox.gp._init import laplace_init

RNG = np.random.default_rng(1)
N, NOISE = 30, 0.09
X = RNG.random((N, 2))
XT = RNG.random((8, 2))
KERNEL = pa.gp.Matern52(0.4, 1.5)
THETA = np.asarray(KERNEL(X, X)) + 1e-4 * np.eye(N)
Y = np.linalg.cholesky(THETA) @ RNG.standard_normal(N) + np.sqrt(NOISE) * RNG.standard_normal(N)


def exact(x_new, *, train=False):
    """Exact GP posterior of f at x_new (Θ = K + 1e-4 I on the latent, as in the model)."""
    kn = THETA + NOISE * np.eye(N)
    k_star = THETA if train else np.asarray(KERNEL(x_new, X))
    mean = k_star @ np.linalg.solve(kn, Y)
    prior_var = np.asarray(KERNEL.diag(x_new)) + 1e-4
    return mean, prior_var - np.sum(k_star * np.linalg.solve(kn, k_star.T).T, axis=1)


@pytest.fixture(scope="module")
def dense_fit():
    gp = pa.gp.LatentGP(KERNEL, pa.gp.Gaussian(NOISE), rho=1e6)
    return gp.fit(
        X, Y, num_epochs=600, batch_size=N, learn_hyperparameters=False, learning_rate=0.05
    )


def test_dense_pattern_fit_is_the_exact_gp_posterior(dense_fit):
    assert dense_fit.exact_ and dense_fit.pattern_ is None  # ρ = 1e6: the dense pattern
    mean, var = dense_fit.marginals()  # in X's original order
    m_ex, v_ex = exact(X, train=True)
    np.testing.assert_allclose(mean, m_ex, rtol=1e-3, atol=1e-3 * np.std(m_ex))
    np.testing.assert_allclose(var, v_ex, rtol=1e-3)
    pm, pv = dense_fit.predict_f(XT)
    t_m, t_v = exact(XT)
    np.testing.assert_allclose(pm, t_m, rtol=1e-3, atol=1e-3 * np.std(t_m))
    np.testing.assert_allclose(pv, t_v, rtol=1e-3)
    # q is the exact posterior and p̂ the exact prior, so the ELBO is the log evidence
    log_z = multivariate_normal(np.zeros(N), THETA + NOISE * np.eye(N)).logpdf(Y)
    np.testing.assert_allclose(dense_fit.elbo(), log_z, rtol=1e-5)
    ym, yv = dense_fit.predict_y(XT)
    np.testing.assert_allclose(ym, pm)
    np.testing.assert_allclose(yv, pv + NOISE)
    lp = dense_fit.predictive_log_prob(XT, np.zeros(len(XT)))
    np.testing.assert_allclose(lp, -0.5 * np.log(2 * np.pi * yv) - ym**2 / (2 * yv), rtol=1e-8)


def test_laplace_init_is_the_posterior_mode():
    gp = pa.gp.LatentGP(KERNEL, "bernoulli", rho=1e6)
    labels = (Y > 0).astype(float)
    pattern, data, u = stage_data(gp._config(N), KERNEL, X, labels)
    assert pattern.max_neighbors == N  # ρ = 1e6: the dense pattern
    params, steps = laplace_init(u, gp.likelihood, data.y, jnp.asarray(0.0), 1e-4)
    assert 1 <= int(steps) < 20
    f = params.nu
    prec = np.linalg.inv(np.asarray(THETA)[np.ix_(pattern.perm, pattern.perm)])
    grad = jax.vmap(jax.grad(lambda ff, yy: gp.likelihood.log_prob(yy, ff)))(f, data.y)
    np.testing.assert_allclose(grad - prec @ np.asarray(f), 0.0, atol=1e-3 * np.sqrt(N))
    # Gaussian likelihood: one Newton step is exact
    gauss = pa.gp.Gaussian(NOISE)
    params, _ = laplace_init(u, gauss, jnp.asarray(Y[pattern.perm]), 0.0, 1e-4)
    m_ex = exact(X, train=True)[0][pattern.perm]
    np.testing.assert_allclose(params.nu, m_ex, rtol=1e-7, atol=1e-9)


@pytest.fixture(scope="module")
def bernoulli_fits():
    rng = np.random.default_rng(5)
    x = rng.random((300, 2))
    theta = np.asarray(pa.gp.Matern32(0.25, 4.0)(x, x)) + 1e-4 * np.eye(300)
    f = np.linalg.cholesky(theta) @ rng.standard_normal(300)
    labels = (rng.random(300) < 1 / (1 + np.exp(-f))).astype(int)
    fits = {}
    for var in ("sic", "diagonal"):
        gp = pa.gp.LatentGP(pa.gp.Matern32(0.25, 4.0), "bernoulli", rho=2.0, variational=var)
        fits[var] = gp.fit(x, labels, num_epochs=6, batch_size=50, learn_hyperparameters=False)
    return x, f, fits


def test_bernoulli_sic_beats_mean_field_and_predicts_probabilities(bernoulli_fits):
    x, f, fits = bernoulli_fits
    elbo = {k: g.elbo() for k, g in fits.items()}
    assert elbo["sic"] > elbo["diagonal"] + 1.0
    for gp in fits.values():
        assert np.all(np.isfinite(gp.fitted_.history))
        assert gp.fitted_.num_skipped == 0
    p, pv = fits["sic"].predict_y(XT)
    assert np.all((p > 0) & (p < 1)) and np.allclose(pv, p * (1 - p))
    mean, var = fits["sic"].predict_f(XT)
    # the predictive integrates the latent variance out: less extreme than σ(mean)
    plug_in = 1 / (1 + np.exp(-mean))
    assert np.all(np.abs(p - 0.5) < np.abs(plug_in - 0.5))


def test_hyperparameter_learning_moves_a_bad_lengthscale_and_raises_the_elbo():
    rng = np.random.default_rng(2)
    x = rng.random((120, 1))
    theta = np.asarray(pa.gp.Matern32(0.2)(x, x)) + 1e-4 * np.eye(120)
    y = np.linalg.cholesky(theta) @ rng.standard_normal(120) + 0.1 * rng.standard_normal(120)
    fixed = pa.gp.LatentGP(pa.gp.Matern32(2.0), pa.gp.Gaussian(0.5), rho=3.0)
    learned = pa.gp.LatentGP(pa.gp.Matern32(2.0), pa.gp.Gaussian(0.5), rho=3.0)
    fixed.fit(x, y, num_epochs=30, batch_size=40, learn_hyperparameters=False, learning_rate=0.05)
    learned.fit(x, y, num_epochs=30, batch_size=40, learning_rate=0.05)
    assert float(learned.kernel_.lengthscale) < 1.5
    assert float(learned.likelihood_.variance) < 0.4
    assert learned.elbo() > fixed.elbo() + 5.0


def test_bad_input_errors():
    gp = pa.gp.LatentGP(pa.gp.Matern32(0.3), "bernoulli")
    x = RNG.random((20, 2))
    labels = np.arange(20) % 2
    with pytest.raises(ValueError, match="NaN or inf.*row 3"):
        gp.fit(np.where(np.arange(20)[:, None] == 3, np.nan, x), labels)
    with pytest.raises(ValueError, match="one value per row of X"):
        gp.fit(x, labels[:-1])
    with pytest.raises(ValueError, match="0, 1|0 or 1|\\{0, 1\\}"):
        gp.fit(x, labels * 2)
    with pytest.raises(ValueError, match="non-finite"):
        gp.fit(x, np.where(np.arange(20) == 0, np.inf, labels))
    with pytest.raises(ValueError, match="negative|non-negative"):
        pa.gp.LatentGP(pa.gp.Matern32(0.3), "poisson").fit(x, labels - 1)
    with pytest.raises(ValueError, match="integer"):
        pa.gp.LatentGP(pa.gp.Matern32(0.3), "poisson").fit(x, labels + 0.5)
    with pytest.raises(ValueError, match="ARD lengthscales"):
        pa.gp.LatentGP(pa.gp.Matern32(np.ones(3)), "bernoulli").fit(x, labels)
    with pytest.raises(ValueError, match="variational"):
        pa.gp.LatentGP(pa.gp.Matern32(0.3), "bernoulli", variational="full")
    with pytest.raises(TypeError, match="kernel"):
        pa.gp.LatentGP(lambda a, b: a @ b.T, "bernoulli")
    with pytest.raises(RuntimeError, match="fit"):
        gp.predict_f(x)


def test_duplicates_and_more_neighbours_than_points_are_handled():
    """Duplicated inputs are harmless (nugget); num_neighbors > n is capped at n."""
    rng = np.random.default_rng(3)
    x = rng.random((12, 2))
    x = np.concatenate([x, x[:4]])  # 4 exact duplicates
    y = rng.poisson(2.0, size=len(x))
    gp = pa.gp.LatentGP(pa.gp.Matern32(0.3), "poisson", num_neighbors=50)
    gp.fit(x, y, num_epochs=3, batch_size=8, learn_hyperparameters=False)
    mean, var = gp.marginals()
    assert np.all(np.isfinite(mean)) and np.all(var > 0)
    pm, pv = gp.predict_f(x[:3])
    assert np.all(np.isfinite(pm)) and np.all(pv > 0)
    with pytest.raises(ValueError, match="columns like the training"):
        gp.predict_f(rng.random((3, 3)))


def test_a_step_too_large_for_memory_is_refused_with_advice(monkeypatch):
    import probapprox.gp._fit_loop as fit_loop

    monkeypatch.setattr(fit_loop, "_MAX_STEP_BYTES", 10_000)
    gp = pa.gp.LatentGP(KERNEL, pa.gp.Gaussian(NOISE), rho=3.0)
    with pytest.raises(ValueError, match="max_num_ancestor="):
        gp.fit(X, Y, num_epochs=1, batch_size=N, learn_hyperparameters=False)
