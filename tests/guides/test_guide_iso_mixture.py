import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import probapprox as pa
from probapprox.guides import AutoIsoGaussianMixture, IsoGaussianMixtureDistribution
from probapprox.models import get_model

QUADRANTS = [(1, 1), (-1, 1), (-1, -1), (1, -1)]  # the bundled models' mode order


def _masses(x):
    return np.array(
        [np.mean((np.sign(x[:, 0]) == a) & (np.sign(x[:, 1]) == b)) for a, b in QUADRANTS]
    )


def _fit_modes(name, num_components, seed):
    bm = get_model(name)
    g = AutoIsoGaussianMixture(bm.model, num_components=num_components)
    return bm, pa.fit(
        bm.model, g, *bm.args, num_steps=10_000, seed=seed, progress=False, **bm.kwargs
    )


@pytest.mark.parametrize("seed", range(5))
def test_four_modes_masses_kl_and_khat(seed):
    """Learned weights (default), N = 8, random start around a uniform draw: all modes right."""
    bm, r = _fit_modes("four_modes", 8, seed)
    x = r.sample(100_000, seed=1)["x"]
    np.testing.assert_allclose(_masses(x), 0.25, atol=0.03)
    d = r.diagnostics(100_000, seed=2, warn=False)  # k̂ needs many draws when q ≈ p
    assert -d.elbo < 0.02  # log Z = 0: KL(q || p) = -ELBO
    assert d.pareto_k < 0.5


def test_unequal_mode_weights():
    bm, r = _fit_modes("four_modes_unequal", 10, 0)
    x = r.sample(100_000, seed=1)["x"]
    np.testing.assert_allclose(_masses(x), bm.kwargs["weights"], atol=0.03)


def test_is_used_with_its_own_estimator_and_optimizer():
    bm = get_model("banana")
    r = pa.fit(
        bm.model, AutoIsoGaussianMixture(bm.model, num_components=3), num_steps=20, progress=False
    )
    assert r.info["loss"] == "MixtureELBO"
    assert r.info["optimizer"] == "IsoMixtureDescent"


@pytest.fixture(scope="module")
def fitted():
    bm = get_model("eight_schools")
    g = AutoIsoGaussianMixture(bm.model, num_components=3, weights="uniform")
    r = pa.fit(bm.model, g, *bm.args, num_steps=300, progress=False, **bm.kwargs)
    return bm, r


def test_posterior_api(fitted):
    bm, r = fitted
    g, p = r.guide, r.params
    assert "auto_logits" not in p  # uniform weights are not a parameter
    post = g.get_posterior(p)
    assert isinstance(post, IsoGaussianMixtureDistribution)
    assert post.event_shape == (10,)
    s = g.sample_posterior(jax.random.PRNGKey(0), p, sample_shape=(7,))
    assert s["theta_tilde"].shape == (7, 8) and np.all(np.asarray(s["tau"]) > 0)
    med = g.median(p)
    assert med["theta_tilde"].shape == (8,) and float(med["tau"]) > 0
    q = g.quantiles(p, [0.1, 0.5, 0.9])
    assert q["tau"].shape == (3,)
    assert np.all(np.diff(np.asarray(q["mu"])) > 0)
    z = post.sample(jax.random.PRNGKey(1), (200_000,))
    np.testing.assert_allclose(z.mean(0), post.mean, atol=0.05)
    np.testing.assert_allclose(z.var(0), post.variance, rtol=0.05)


def test_diagnostics_and_save_load(fitted, tmp_path):
    bm, r = fitted
    d = r.diagnostics(2000, warn=False)
    assert np.isfinite(d.elbo) and np.isfinite(d.pareto_k)
    r.save(tmp_path / "mix.npz")
    back = pa.load(tmp_path / "mix.npz", bm.model)
    assert back.guide.get_config() == r.guide.get_config()
    a, b = r.sample(50, seed=3), back.sample(50, seed=3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_bad_arguments():
    bm = get_model("banana")
    with pytest.raises(ValueError, match="num_components"):
        AutoIsoGaussianMixture(bm.model, num_components=0)
    with pytest.raises(ValueError, match="weights"):
        AutoIsoGaussianMixture(bm.model, weights="equal")
    with pytest.raises(ValueError, match="init_variance"):
        AutoIsoGaussianMixture(bm.model, init_variance=-1.0)


def discrete_model():
    p = numpyro.sample("p", dist.Beta(2.0, 2.0))
    numpyro.sample("k", dist.Bernoulli(p))


def test_discrete_latent_site_is_named():
    with pytest.raises(ValueError, match="site 'k' \\(BernoulliProbs\\) is a discrete"):
        pa.fit(
            discrete_model,
            AutoIsoGaussianMixture(discrete_model, num_components=2),
            num_steps=5,
            progress=False,
        )


def test_mixture_score_matches_family_log_prob():
    bm = get_model("banana")
    g = AutoIsoGaussianMixture(bm.model, num_components=2)
    numpyro.handlers.seed(g, 0)()
    p = {
        "auto_means": jnp.zeros((2, 2)),
        "auto_variances": jnp.ones(2),
        "auto_logits": jnp.zeros(2),
    }
    lp = g.get_posterior(p).log_prob(jnp.zeros(2))
    assert float(lp) == pytest.approx(-np.log(2 * np.pi))


def test_plain_numpyro_svi_with_mixture_estimator_and_optimizer():
    """MixtureELBO and IsoMixtureDescent drop into numpyro.infer.SVI unchanged."""
    from numpyro.infer import SVI

    from probapprox.estimators import MixtureELBO
    from probapprox.optim import IsoMixtureDescent

    bm = get_model("four_modes")
    guide = AutoIsoGaussianMixture(bm.model, num_components=8)
    svi = SVI(bm.model, guide, IsoMixtureDescent(0.02), MixtureELBO(10))
    res = svi.run(jax.random.PRNGKey(0), 3000, progress_bar=False, **bm.kwargs)
    x = guide.sample_posterior(jax.random.PRNGKey(1), res.params, sample_shape=(20_000,))["x"]
    np.testing.assert_allclose(_masses(np.asarray(x)), 0.25, atol=0.05)
