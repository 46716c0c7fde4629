import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro.infer.initialization import init_to_value

import probapprox as pa
from probapprox.guides import AutoIsoGaussianMixture
from probapprox.models import MODELS, get_model
from probapprox.optim import IsoMixtureDescent

MU = jnp.array([1.0, -2.0, 0.5])
SIGMA = 0.7


def iso_gauss():
    numpyro.sample("x", dist.Normal(MU, SIGMA).to_event(1))


@pytest.mark.parametrize("variance_step", ["bures", "mirror", "prox"])
def test_single_gaussian_converges_to_the_target(variance_step):
    """N = 1 on N(μ, σ² I): m -> μ, ε -> σ² (methods.md §1.3)."""
    g = AutoIsoGaussianMixture(iso_gauss, num_components=1)
    r = pa.fit(
        iso_gauss,
        g,
        num_steps=1500,
        progress=False,
        optimizer=IsoMixtureDescent(0.05, variance_step=variance_step),
    )
    np.testing.assert_allclose(r.params["auto_means"][0], MU, rtol=0.02, atol=0.01)
    assert float(r.params["auto_variances"][0]) == pytest.approx(SIGMA**2, rel=0.02)


def test_adam_also_works():
    g = AutoIsoGaussianMixture(iso_gauss, num_components=1)
    r = pa.fit(
        iso_gauss,
        g,
        num_steps=3000,
        progress=False,
        optimizer=optax.adam(optax.cosine_decay_schedule(3e-2, 3000, 1e-2)),
    )
    np.testing.assert_allclose(r.params["auto_means"][0], MU, atol=0.02)
    assert float(r.params["auto_variances"][0]) == pytest.approx(SIGMA**2, rel=0.03)


def _fig1_kl(num_components, variance_step):
    bm = get_model("mog2d")
    g = AutoIsoGaussianMixture(
        bm.model,
        num_components=num_components,
        weights="uniform",
        init_radius=15.0,
        init_variance=2.0,
        init_loc_fn=init_to_value(values={"x": jnp.zeros(2)}),
    )
    r = pa.fit(
        bm.model,
        g,
        *bm.args,
        num_steps=1000,
        seed=0,
        progress=False,
        optimizer=IsoMixtureDescent(0.1, variance_step=variance_step),
    )
    # log Z = 0, so KL(q || p) = -ELBO, estimated from 20 000 exact draws of q
    return -r.diagnostics(20_000, seed=1, warn=False).elbo


def _check_fig1(sizes):
    kl = {vs: [_fig1_kl(n, vs) for n in sizes] for vs in ("bures", "mirror")}
    for vs, values in kl.items():
        assert all(a > b for a, b in zip(values, values[1:], strict=False)), (vs, values)
        assert values[-1] < 0.15
    for a, b in zip(kl["bures"], kl["mirror"], strict=True):
        assert abs(a - b) <= 0.2 * max(a, b)


def test_paper_figure_1_kl_decreases_with_n():
    """Fig. 1 setting: {s_tg, r_tg, N_tg} = {8, 5, 5}; s = 15, r = 2, γ = 0.1, 1000 steps."""
    _check_fig1((1, 20))


@pytest.mark.slow
def test_paper_figure_1_all_sizes():
    _check_fig1((1, 5, 10, 20))


def _positivity(name, step_size):
    bm = get_model(name)
    g = AutoIsoGaussianMixture(bm.model, num_components=5, num_particles=5)
    r = pa.fit(
        bm.model,
        g,
        *bm.args,
        num_steps=10_000,
        progress=False,
        optimizer=IsoMixtureDescent(step_size),
        **bm.kwargs,
    )
    eps = np.asarray(r.params["auto_variances"])
    assert np.all(np.isfinite(r.losses))
    assert np.all(eps > 0) and np.all(np.isfinite(eps))


@pytest.mark.parametrize("name", ["four_modes", "banana", "rezende_u1"])
def test_variances_stay_positive(name):
    _positivity(name, 1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_variances_stay_positive_every_bundled_target(name):
    # the paper's step sizes: 1e-2 on toy targets and logistic regression, 1e-3 on small-scale ones
    step = 1e-3 if name in {"linear_regression", "eight_schools"} else 1e-2
    _positivity(name, step)


def test_bad_arguments():
    with pytest.raises(ValueError, match="step_size"):
        IsoMixtureDescent(0.0)
    with pytest.raises(ValueError, match="step_size"):
        IsoMixtureDescent(-1e-2)
    with pytest.raises(ValueError, match="weight_step_size"):
        IsoMixtureDescent(1e-2, weight_step_size=0)
    with pytest.raises(ValueError, match="variance_step"):
        IsoMixtureDescent(1e-2, variance_step="newton")


@pytest.mark.parametrize("variance_step", ["bures", "mirror"])
@pytest.mark.parametrize("trust_region", [False, True])
def test_update_is_algorithm_1(variance_step, trust_region):
    """One step from given gradients equals the paper's updates (small steps: no capping)."""
    rng = np.random.default_rng(0)
    n, d, gamma = 3, 2, 0.05
    means, eps = rng.normal(size=(n, d)), rng.uniform(0.5, 2.0, size=n)
    logits = rng.normal(size=n)
    w = np.exp(logits) / np.exp(logits).sum()
    e_grad = rng.normal(size=(n, d)) * 0.1  # E_j[∇ log(q/π)]
    e_dot = rng.normal(size=n) * 0.1  # E_j[(z - m_j)ᵀ ∇ log(q/π)]
    c = rng.normal(size=n)  # E_j[log q - log π]
    grads = {  # MixtureELBO's gradients w.r.t. the unconstrained parameters
        "auto_means": jnp.asarray(w[:, None] * e_grad),
        "auto_variances": jnp.asarray(w / 2 * e_dot),  # d/d(log ε) = ε d/dε
        "auto_logits": jnp.asarray(w * (c - w @ c)),
    }
    params = {
        "auto_means": jnp.asarray(means),
        "auto_variances": jnp.asarray(np.log(eps)),
        "auto_logits": jnp.asarray(logits),
    }
    opt = IsoMixtureDescent(
        gamma, variance_step=variance_step, weight_step_size=0.3, trust_region=trust_region
    )
    new = opt.get_params(opt.update(grads, opt.init(params)))
    g = e_dot / (d * eps)
    eps_new = (1 - gamma * g) ** 2 * eps if variance_step == "bures" else eps * np.exp(-gamma * g)
    w_new = w * np.exp(-0.3 * (c - w @ c))
    np.testing.assert_allclose(new["auto_means"], means - gamma * e_grad, rtol=1e-12)
    np.testing.assert_allclose(np.exp(new["auto_variances"]), eps_new, rtol=1e-12)
    np.testing.assert_allclose(jax.nn.softmax(new["auto_logits"]), w_new / w_new.sum(), rtol=1e-12)


def test_trust_region_caps_a_huge_step():
    params = {"auto_means": jnp.zeros((1, 2)), "auto_variances": jnp.zeros(1)}  # ε = 1
    grads = {"auto_means": jnp.array([[1e6, 0.0]]), "auto_variances": jnp.array([1e6])}
    opt = IsoMixtureDescent(0.1)
    new = opt.get_params(opt.update(grads, opt.init(params)))
    assert float(jnp.linalg.norm(new["auto_means"])) == pytest.approx(np.sqrt(2))
    assert float(jnp.exp(new["auto_variances"][0])) == pytest.approx(0.25)  # (1 - 1/2)^2


def test_prox_step_is_the_entropy_jko_for_one_component():
    """N = 1: the prox variance step equals FB-GVI's isotropic update with h = g + 1/ε."""
    from probapprox.families.gaussian import entropy_prox

    params = {"auto_means": jnp.zeros((1, 2)), "auto_variances": jnp.log(jnp.array([0.8]))}
    grads = {"auto_means": jnp.zeros((1, 2)), "auto_variances": jnp.array([0.3])}
    gamma = 0.1
    opt = IsoMixtureDescent(gamma, variance_step="prox", trust_region=False)
    new = opt.get_params(opt.update(grads, opt.init(params)))
    g = 2 * 0.3 / (2 * 0.8)
    half = 0.8 * (1 - gamma * (g + 1 / 0.8)) ** 2
    expected = entropy_prox(half * jnp.eye(2), gamma)[0, 0]
    assert float(jnp.exp(new["auto_variances"][0])) == pytest.approx(float(expected), rel=1e-12)
