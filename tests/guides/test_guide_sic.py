"""AutoSIC: the SIC variational family for a VecchiaGP site, with pa.fit and NumPyro's SVI."""

import warnings

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoGuideList, AutoNormal

import probapprox as pa
from probapprox.gp import Matern32, VecchiaGP
from probapprox.guides import AutoSIC, SICNormal
from probapprox.guides._sic_pattern import pattern_from_data, pattern_to_data, same_pattern

N = 30
RNG = np.random.default_rng(0)
X = RNG.uniform(size=(N, 1))  # unsorted: the maximin permutation is not the identity
KERNEL = Matern32(lengthscale=0.3, variance=1.0)
NOISE_VAR, MEAN = 0.25, 0.2
Y = np.sin(6.0 * X[:, 0]) + np.sqrt(NOISE_VAR) * RNG.normal(size=N)
DENSE = pa.ordering.build_pattern(X, rho=1e6)  # every earlier point a neighbour
SPARSE = pa.ordering.build_pattern(X, lengthscale=0.3, rho=2.0)


def gaussian_model(X, y=None):
    f = numpyro.sample("f", VecchiaGP(KERNEL, X, DENSE, mean=MEAN))
    numpyro.sample("y", dist.Normal(f, np.sqrt(NOISE_VAR)), obs=y)


def exact_posterior():
    """Conjugate GP posterior N(m, C) with C = (K^-1 + I/s2)^-1, m = C (K^-1 mu + y/s2)."""
    K = np.asarray(KERNEL(X, X)) + 1e-4 * np.eye(N)
    C = np.linalg.inv(np.linalg.inv(K) + np.eye(N) / NOISE_VAR)
    m = C @ (np.linalg.solve(K, np.full(N, MEAN)) + Y / NOISE_VAR)
    return m, np.diag(C)


def assert_exact(q, mean_tol, var_tol):
    m, var = exact_posterior()
    assert np.abs(q.mean - m).max() <= mean_tol * np.abs(m).max()
    assert np.abs(q.variance / var - 1.0).max() <= var_tol


def extra_model(X, y=None):
    c = numpyro.sample("c", dist.Normal(0.0, 1.0))
    s = numpyro.sample("s", dist.LogNormal(-1.0, 0.5))
    ell = numpyro.sample("ell", dist.LogNormal(np.log(0.3), 0.3))
    f = numpyro.sample("f", VecchiaGP(Matern32(lengthscale=ell), X, SPARSE, mean=c))
    numpyro.sample("y", dist.Normal(f, s), obs=y)


def short_fit(model, *args, num_steps):
    """A fit too short to settle: only that it runs is tested (no convergence warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*had not settled")
        return pa.fit(model, AutoSIC(model), *args, num_steps=num_steps, progress=False)


@pytest.fixture(scope="module")
def extra_fit():
    return short_fit(extra_model, X, Y, num_steps=400)


def test_pa_fit_recovers_the_exact_gp_posterior_in_the_original_order():
    # PathELBO (sticking the landing, pa.fit's default here) has zero gradient noise at the
    # exact posterior, so the fit converges; what is left after <= 5000 steps of Adam with a
    # cosine-decayed step is optimisation error, measured over 3 data seeds <= 1e-3 (mean)
    # and <= 4.2e-3 (variances): V's entries are as large as the prior factor's (~1/sqrt of
    # the conditional variances) and the last digits converge slowly.
    guide = AutoSIC(gaussian_model, site="f")
    res = pa.fit(gaussian_model, guide, X, Y, num_steps=5000, progress=False)
    q = guide.get_posterior(res.params)
    assert isinstance(q, SICNormal)
    assert_exact(q, mean_tol=1e-2, var_tol=1e-2)
    m, var = exact_posterior()
    draws = res.sample(2000, seed=1)["f"]  # X's order
    assert draws.shape == (2000, N)
    assert np.all(np.abs(draws.mean(0) - m) < 5.0 * np.sqrt(var / 2000))
    np.testing.assert_allclose(guide.median(res.params)["f"], q.mean)
    lo, mid = guide.quantiles(res.params, [0.158655, 0.5])["f"]
    np.testing.assert_allclose(mid, q.mean, atol=1e-12)
    np.testing.assert_allclose(q.mean - lo, np.sqrt(q.variance), rtol=1e-4)
    assert res.diagnostics(num_samples=2000, warn=False).pareto_k < 0.5


def test_numpyro_svi_with_trace_elbo():
    # Trace_ELBO's gradient noise does not vanish at the optimum (the log p path term is not
    # cancelled by log q's as in PathELBO), so the last Adam iterate jitters around the
    # posterior and the tolerances are looser than pa.fit's (measured over 3 seeds after 5000
    # steps: mean <= 1.5e-2, variances <= 0.17).
    guide = AutoSIC(gaussian_model)
    steps = 5000
    opt = optax.adam(optax.cosine_decay_schedule(5e-2, steps, alpha=1e-2))
    svi = SVI(gaussian_model, guide, numpyro.optim.optax_to_numpyro(opt), Trace_ELBO())
    run = svi.run(jax.random.PRNGKey(0), steps, X, Y, progress_bar=False)
    assert np.all(np.isfinite(run.losses))
    assert_exact(guide.get_posterior(run.params), mean_tol=3e-2, var_tol=0.3)
    draws = guide.sample_posterior(jax.random.PRNGKey(1), run.params, sample_shape=(7,))
    assert draws["f"].shape == (7, N)


def test_initialised_at_the_prior(extra_fit):
    guide = extra_fit.guide
    with handlers.seed(rng_seed=0):  # no params substituted: numpyro.param gives the initial values
        tr = handlers.trace(guide).get_trace(X, Y)
    params = {k: v["value"] for k, v in tr.items() if v["type"] == "param"}
    init = guide.median(params)  # the other sites at their initial (median) values
    prior = VecchiaGP(Matern32(lengthscale=init["ell"]), X, SPARSE, mean=init["c"])
    np.testing.assert_allclose(params["f_auto_nu"], prior.ordered_mean, rtol=1e-12)
    np.testing.assert_allclose(
        params["f_auto_offdiag"][:, :-1] * (SPARSE.idx[:, :-1] >= 0),
        prior.precision_values[:, :-1],
        rtol=1e-12,
    )
    np.testing.assert_allclose(np.exp(params["f_auto_log_diag"]) + 1e-4,
                               prior.precision_values[:, -1], rtol=1e-10)  # fmt: skip
    assert guide.pattern is SPARSE


def test_extra_latent_sites_fit_and_sample(extra_fit):
    res = extra_fit
    assert np.all(np.isfinite(res.losses))
    assert res.losses[-50:].mean() < res.losses[:50].mean()
    draws = res.sample(200, seed=1)  # one number of draws: one compiled sampler
    assert set(draws) == {"c", "s", "ell", "f"}
    assert draws["f"].shape == (200, N) and draws["c"].shape == (200,)
    assert np.all(draws["s"] > 0) and np.all(draws["ell"] > 0)
    tree = res.to_arviz(num_samples=200)
    assert tree["posterior"]["f"].shape == (1, 200, N)
    assert "y" in tree["log_likelihood"]
    diag = res.diagnostics(num_samples=200, warn=False)
    assert np.isfinite(diag.elbo) and np.isfinite(diag.pareto_k)


@pytest.mark.slow
def test_bernoulli_logit_model_runs():
    labels = (Y > 0).astype(np.int32)

    def model(X, y=None):
        ell = numpyro.sample("ell", dist.LogNormal(np.log(0.3), 0.3))
        f = numpyro.sample("f", VecchiaGP(Matern32(lengthscale=ell), X, SPARSE))
        numpyro.sample("y", dist.Bernoulli(logits=f), obs=y)

    res = short_fit(model, X, labels, num_steps=150)
    diag = res.diagnostics(num_samples=500, warn=False)
    assert np.isfinite(diag.elbo) and np.isfinite(diag.pareto_k)


@pytest.mark.slow
def test_inside_an_autoguide_list():
    guide = AutoGuideList(extra_model)
    guide.append(AutoSIC(handlers.block(handlers.seed(extra_model, 0), expose=["f"])))
    guide.append(AutoNormal(handlers.block(handlers.seed(extra_model, 1), hide=["f"])))
    svi = SVI(extra_model, guide, numpyro.optim.Adam(1e-2), Trace_ELBO())
    run = svi.run(jax.random.PRNGKey(0), 50, X, Y, progress_bar=False)
    assert np.all(np.isfinite(run.losses))
    draws = guide.sample_posterior(jax.random.PRNGKey(1), run.params, sample_shape=(5,))
    assert draws["f"].shape == (5, N) and draws["s"].shape == (5,)
    assert {"f_auto_nu", "c_auto_loc"} <= set(run.params)


@pytest.mark.slow
def test_save_and_load_with_and_without_data(extra_fit, tmp_path):
    for include_data in (True, False):
        path = tmp_path / f"fit_{include_data}.npz"
        extra_fit.save(path, include_data=include_data)
        loaded = pa.load(path, extra_model)
        a, b = loaded.sample(20, seed=3), extra_fit.sample(20, seed=3)
        for k in b:
            np.testing.assert_array_equal(a[k], b[k])
        assert same_pattern(loaded.guide.pattern, SPARSE)
    with pytest.raises(ValueError, match="loaded without the model's data"):
        loaded.diagnostics(num_samples=10)
    # the data the model is loaded with must give the saved pattern
    other = pa.ordering.build_pattern(X, lengthscale=0.3, rho=1.5)

    def other_model(X, y=None):
        c = numpyro.sample("c", dist.Normal(0.0, 1.0))
        s = numpyro.sample("s", dist.LogNormal(-1.0, 0.5))
        ell = numpyro.sample("ell", dist.LogNormal(np.log(0.3), 0.3))
        f = numpyro.sample("f", VecchiaGP(Matern32(lengthscale=ell), X, other, mean=c))
        numpyro.sample("y", dist.Normal(f, s), obs=y)

    with pytest.raises(ValueError, match="differs from the pattern of the model's VecchiaGP"):
        pa.load(tmp_path / "fit_True.npz", other_model)


def test_pattern_plain_data_round_trip():
    back = pattern_from_data(pattern_to_data(SPARSE))
    for k in ("perm", "idx", "anc", "ell"):
        np.testing.assert_array_equal(getattr(back, k), getattr(SPARSE, k))
    assert back.rho == SPARSE.rho and back.num_neighbors is None
    assert np.allclose(back.lengthscale, 0.3)


def _setup(model, **kw):
    """A guide set up on ``model`` and its initial parameters."""
    guide = AutoSIC(model, **kw)
    with handlers.seed(rng_seed=0):
        tr = handlers.trace(guide).get_trace(X, Y)
    return guide, {k: v["value"] for k, v in tr.items() if v["type"] == "param"}


def iid_model(X, y=None):
    numpyro.sample("f", dist.Normal(0.0, 1.0).expand([N]).to_event(1))


def test_a_non_vecchia_site_needs_a_pattern():
    def model(X, y=None):
        f = numpyro.sample("f", dist.MultivariateNormal(0.0, KERNEL(X, X) + 1e-4 * np.eye(N)))
        numpyro.sample("y", dist.Normal(f, 0.3), obs=y)

    with pytest.raises(ValueError, match=r"pattern=\.\.\.\) is required: site 'f' is a Mult"):
        _setup(model)
    guide, params = _setup(model, pattern=DENSE, init_scale=0.5)
    np.testing.assert_allclose(guide.get_posterior(params).variance, 0.25, rtol=1e-12)


def test_bad_arguments_have_clear_errors():
    with pytest.raises(ValueError, match=r"site='g'\): the model has no latent sample site 'g'"):
        _setup(gaussian_model, site="g")

    def constrained(X, y=None):
        numpyro.sample("f", dist.LogNormal(0.0, 1.0).expand([N]).to_event(1))

    with pytest.raises(ValueError, match=r"site='f'\): the site must be an unconstrained real"):
        _setup(constrained)
    with pytest.raises(ValueError, match=r"pattern=\.\.\.\) differs from the pattern of the"):
        _setup(gaussian_model, pattern=SPARSE)
    small = pa.ordering.build_pattern(X[:20], rho=2.0)
    with pytest.raises(ValueError, match=r"pattern=\.\.\.\) has n = 20 points but site 'f' has 30"):
        _setup(iid_model, pattern=small)
    with pytest.raises(TypeError, match=r"pattern=\.\.\.\) expects a probapprox.ordering.Pattern"):
        AutoSIC(gaussian_model, pattern=DENSE.idx)
    with pytest.raises(RuntimeError, match="fit the guide"):
        AutoSIC(gaussian_model).get_config()
