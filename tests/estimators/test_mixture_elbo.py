import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from probapprox.estimators import MixtureELBO
from probapprox.families import iso_mixture as fam
from probapprox.guides import AutoIsoGaussianMixture

MU = jnp.array([0.5, -1.0])
SIGMA = jnp.array([[1.5, 0.4], [0.4, 0.8]])
PREC = jnp.linalg.inv(SIGMA)


def gauss():
    numpyro.sample("x", dist.MultivariateNormal(MU, SIGMA))


def _guide(n):
    g = AutoIsoGaussianMixture(gauss, num_components=n)
    numpyro.handlers.seed(g, 0)()
    return g


def _params(n, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "auto_means": jnp.asarray(rng.normal(size=(n, 2))),
        "auto_variances": jnp.asarray(rng.uniform(0.4, 1.5, size=n)),
        "auto_logits": jnp.asarray(rng.normal(size=n)),
    }


def test_gradients_match_the_papers_formulas():
    """Prop. 3.1 (methods.md §1.2), evaluated on the same stratified draws."""
    n, b = 3, 64
    g, p = _guide(n), _params(n)
    key = jax.random.PRNGKey(4)
    loss = MixtureELBO(b)
    grads = jax.jit(jax.grad(lambda q: loss.loss(key, q, gauss, g)))(p)

    mix = fam.IsoMixture(p["auto_means"], p["auto_variances"], p["auto_logits"])
    w = jax.nn.softmax(mix.logits)
    z = fam.stratified_sample(key, mix, b)
    grad_log_pi = -(z - MU) @ PREC
    grad_log_q = jax.vmap(jax.vmap(lambda x: fam.score(x, mix)))(z)
    diff = grad_log_q - grad_log_pi  # ∇ log(q/π)
    grad_m = w[:, None] * diff.mean(1)
    grad_eps = w / (2 * mix.variances) * jnp.sum((z - mix.means[:, None]) * diff, -1).mean(1)
    log_pi = jax.scipy.stats.multivariate_normal.logpdf(z, MU, SIGMA)
    c = (fam.log_prob(z, mix) - log_pi).mean(1)
    grad_a = w * (c - w @ c)
    np.testing.assert_allclose(grads["auto_means"], grad_m, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["auto_variances"], grad_eps, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["auto_logits"], grad_a, rtol=1e-9, atol=1e-12)


def test_single_component_gradient_equals_exact_kl_gradient():
    """N = 1, Gaussian target: KL(N(m, εI) || N(μ, Σ)) has a closed-form gradient."""
    g = _guide(1)
    p = {
        "auto_means": jnp.array([[1.0, 0.3]]),
        "auto_variances": jnp.array([0.6]),
        "auto_logits": jnp.zeros(1),
    }
    grads = jax.jit(
        jax.grad(lambda q: MixtureELBO(200_000).loss(jax.random.PRNGKey(0), q, gauss, g))
    )(p)
    m, eps = p["auto_means"][0], p["auto_variances"][0]
    exact_m = PREC @ (m - MU)
    exact_eps = 0.5 * (jnp.trace(PREC) - 2 / eps)
    np.testing.assert_allclose(grads["auto_means"][0], exact_m, atol=5e-3)
    np.testing.assert_allclose(grads["auto_variances"][0], exact_eps, atol=5e-3)


def test_stl_and_standard_gradients_agree_in_expectation():
    n = 3
    g, p = _guide(n), _params(n, seed=2)
    num = 100_000
    stl = jax.jit(jax.grad(lambda q: MixtureELBO(num).loss(jax.random.PRNGKey(1), q, gauss, g)))(p)
    std = jax.jit(
        jax.grad(
            lambda q: MixtureELBO(num, stick_the_landing=False).loss(
                jax.random.PRNGKey(2), q, gauss, g
            )
        )
    )(p)
    for k in p:
        np.testing.assert_allclose(stl[k], std[k], atol=2e-2, err_msg=k)


def test_loss_is_exact_kl_at_optimum_for_one_component():
    """q = N(μ, εI) with π = N(μ, εI): loss = -ELBO = -log Z = 0 with zero variance."""

    def iso():
        numpyro.sample("x", dist.Normal(jnp.zeros(3), 0.7).to_event(1))

    g = AutoIsoGaussianMixture(iso, num_components=1)
    numpyro.handlers.seed(g, 0)()
    p = {
        "auto_means": jnp.zeros((1, 3)),
        "auto_variances": jnp.array([0.49]),
        "auto_logits": jnp.zeros(1),
    }
    val = MixtureELBO(5).loss(jax.random.PRNGKey(0), p, iso, g)
    assert abs(float(val)) < 1e-12


def test_errors():
    with pytest.raises(ValueError, match="num_particles"):
        MixtureELBO(0)
    from numpyro.infer.autoguide import AutoNormal

    with pytest.raises(TypeError, match="mixture guide"):
        MixtureELBO(2).loss(jax.random.PRNGKey(0), {}, gauss, AutoNormal(gauss))
