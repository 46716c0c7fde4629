"""AutoLaplace: exact curvatures against dense references, PD guarantee, NumPyro integration."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.distributions import constraints
from numpyro.infer import SVI, Trace_ELBO
from numpyro.optim import Adam

import probapprox as pa
from probapprox.guides import AutoLaplace

RNG = np.random.default_rng(0)
N, D = 40, 3
X_LIN = jnp.asarray(RNG.normal(size=(N, D)))
Y_LIN = jnp.asarray(X_LIN @ np.array([1.0, -0.5, 0.3]) + 0.5 * RNG.normal(size=N))
X_CLS = jnp.asarray(RNG.normal(size=(60, 2)))
Y_BIN = jnp.asarray(RNG.uniform(size=60) < 1 / (1 + np.exp(-X_CLS @ np.array([1.5, -1.0]))))
Y_CAT = jnp.asarray(RNG.integers(0, 3, size=60))
NOISE, PRIOR = 0.5, 2.0


def linreg(X, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, PRIOR).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Normal(X @ w, NOISE), obs=y)


def logreg(X, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, PRIOR).expand([X.shape[1]]).to_event(1))
    logits = numpyro.deterministic("logits", X @ w)
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=logits), obs=y)


def softmax_reg(X, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, PRIOR).expand([X.shape[1], 3]).to_event(2))
    logits = numpyro.deterministic("logits", X @ w)
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Categorical(logits=logits), obs=y)


def _exact_linreg():
    prec = X_LIN.T @ X_LIN / NOISE**2 + jnp.eye(D) / PRIOR**2
    cov = jnp.linalg.inv(prec)
    return cov @ X_LIN.T @ Y_LIN / NOISE**2, cov


def _set_up(guide, *args):
    handlers.seed(guide, 0)(*args)
    return guide


def _cov(guide, params):
    post = guide.get_posterior(params)
    if isinstance(post, dist.MultivariateNormal):
        return np.asarray(post.covariance_matrix)
    return np.diag(np.asarray(post.variance))


@pytest.mark.parametrize("curvature", ["hessian", "ggn", "ef"])
def test_curvatures_match_dense_references_for_logistic_regression(curvature):
    loc = jnp.array([0.7, -0.4])
    g = _set_up(AutoLaplace(logreg, curvature=curvature), X_CLS, Y_BIN)
    cov = _cov(g, g.laplace_params({"auto_loc": loc}))
    p = jax.nn.sigmoid(X_CLS @ loc)
    if curvature == "ef":  # per-observation score (y - p) x
        gr = (Y_BIN - p)[:, None] * X_CLS
        lik = gr.T @ gr
    else:  # GGN equals the Hessian for the canonical link
        lik = X_CLS.T @ (X_CLS * (p * (1 - p))[:, None])
    ref = np.linalg.inv(lik + np.eye(2) / PRIOR**2)
    np.testing.assert_allclose(cov, ref, rtol=1e-10)


def test_ggn_equals_hessian_and_dense_formula_for_softmax_regression():
    loc = jnp.asarray(RNG.normal(size=6))
    covs = {}
    for curvature in ("ggn", "hessian"):
        g = _set_up(AutoLaplace(softmax_reg, curvature=curvature), X_CLS, Y_CAT)
        covs[curvature] = _cov(g, g.laplace_params({"auto_loc": loc}))
    prob = jax.nn.softmax(X_CLS @ loc.reshape(2, 3))
    lam = jax.vmap(lambda q: jnp.diag(q) - jnp.outer(q, q))(prob)
    # vec(W) row-major: d logits_c / d W[i, c'] = x_i [c == c']
    jac = jnp.einsum("ni,cd->ncid", X_CLS, jnp.eye(3)).reshape(60, 3, 6)
    prec = jnp.einsum("nci,ncd,ndj->ij", jac, lam, jac) + jnp.eye(6) / PRIOR**2
    np.testing.assert_allclose(covs["ggn"], np.linalg.inv(prec), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(covs["hessian"], covs["ggn"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("structure", "rank"), [("full", None), ("diag", None), ("lowrank", 3), ("lowrank", 2)]
)
def test_structures_on_a_conjugate_model(structure, rank):
    mean, cov = _exact_linreg()
    g = _set_up(AutoLaplace(linreg, structure=structure, rank=rank), X_LIN, Y_LIN)
    params = g.laplace_params({"auto_loc": mean})
    got = g.get_posterior(params)
    prec = np.linalg.inv(np.asarray(cov))
    if structure == "diag":  # the diagonal of the precision, as Laplace Redux's diag
        np.testing.assert_allclose(got.variance, 1 / np.diag(prec), rtol=1e-10)
    elif rank == 2:  # top-2 eigenpairs exact; the third direction gets the trace remainder
        evals = np.linalg.eigvalsh(prec)
        np.testing.assert_allclose(np.sort(params["auto_evals"]), evals[1:], rtol=1e-6)
        assert evals[0] * 0.5 < float(params["auto_rest"]) <= evals[1] * (1 + 1e-9)
    else:  # exact posterior (full, or low rank at full rank)
        full = got.covariance_matrix if structure == "full" else None
        var = np.diag(full) if full is not None else got.variance
        np.testing.assert_allclose(var, np.diag(cov), rtol=1e-8)
        x = jnp.asarray(RNG.normal(size=(4, D)))
        ref = dist.MultivariateNormal(mean, cov).log_prob(x)
        np.testing.assert_allclose(got.log_prob(x), ref, rtol=1e-8)


def test_fit_finds_the_map_and_samples_the_exact_posterior(tmp_path):
    mean, cov = _exact_linreg()
    guide = AutoLaplace(linreg)
    res = pa.fit(linreg, guide, X_LIN, Y_LIN, num_steps=3000, progress=False)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(res.params["auto_loc"], mean, atol=0.01 * sd.min())
    np.testing.assert_allclose(_cov(guide, res.params), cov, rtol=1e-3)
    draws = res.sample(20000, seed=1)["w"]
    np.testing.assert_allclose(draws.mean(0), mean, atol=4 * sd.max() / np.sqrt(20000))
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.03)
    diag = res.diagnostics(num_samples=2000, warn=False)
    assert diag.pareto_k < 0.5  # exact posterior: log weights nearly constant
    # save without the data; the loaded guide samples the same Gaussian
    path = tmp_path / "fit.npz"
    res.save(path, include_data=False)
    loaded = pa.load(path, linreg)
    np.testing.assert_array_equal(loaded.sample(50, seed=3)["w"], res.sample(50, seed=3)["w"])


def sigma_model(y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.LogNormal(0.0, 1.0))
    with numpyro.plate("data", 30):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def test_constrained_sites_quantiles_and_plain_numpyro_svi():
    y = jnp.asarray(RNG.normal(1.0, 2.0, size=30))
    guide = AutoLaplace(sigma_model)
    svi = SVI(sigma_model, guide, Adam(0.05), Trace_ELBO())
    params = svi.run(jax.random.PRNGKey(0), 2000, y, progress_bar=False).params
    assert not guide.has_laplace(params)  # plain SVI gives the MAP only
    draws = guide.sample_posterior(jax.random.PRNGKey(1), params, sample_shape=(5000,))
    assert draws["sigma"].shape == (5000,) and np.all(draws["sigma"] > 0)
    full = guide.laplace_params(params)
    q = guide.quantiles(full, [0.1, 0.5, 0.9])
    med = guide.median(full)
    np.testing.assert_allclose(q["sigma"][1], med["sigma"], rtol=1e-12)
    assert q["sigma"][0] < med["sigma"] < q["sigma"][2]
    emp = np.quantile(np.log(draws["sigma"]), [0.1, 0.9])
    np.testing.assert_allclose(np.log(np.asarray(q["sigma"])[[0, 2]]), emp, atol=0.05)
    # Hessian of the unconstrained potential, by hand: u = (mu, log sigma)
    u = params["auto_loc"]

    def potential(v):
        s = jnp.exp(v[1])
        lp = dist.Normal(0.0, 10.0).log_prob(v[0]) + dist.LogNormal(0.0, 1.0).log_prob(s)
        return -(lp + jnp.sum(dist.Normal(v[0], s).log_prob(y)) + v[1])

    ref = np.linalg.inv(jax.hessian(potential)(u))
    np.testing.assert_allclose(_cov(guide, full), ref, rtol=1e-8)


def flat_model(y=None):
    a = numpyro.sample("a", dist.ImproperUniform(constraints.real, (), ()))
    b = numpyro.sample("b", dist.ImproperUniform(constraints.real, (), ()))
    with numpyro.plate("data", 20):
        numpyro.sample("y", dist.Normal(a + b, 1.0), obs=y)


@pytest.mark.parametrize("structure", ["full", "diag"])
def test_singular_hessian_warns_and_never_gives_nan_or_zero_scale(structure):
    y = jnp.asarray(RNG.normal(size=20))
    guide = _set_up(AutoLaplace(flat_model, structure=structure), y)
    loc = {"auto_loc": jnp.array([0.3, -0.1])}
    if structure == "full":  # a + b is determined by the data, a - b is not
        with pytest.warns(UserWarning, match=r"clipped 1 of 2"):
            params = guide.laplace_params(loc)
        assert guide.num_clipped == 1
    else:  # the diagonal (20, 20) does not see the flat direction
        params = guide.laplace_params(loc)
        assert guide.num_clipped == 0
    var = np.diag(_cov(guide, params))
    assert np.all(np.isfinite(var)) and np.all(var > 0)
    draws = guide.sample_posterior(jax.random.PRNGKey(0), params, sample_shape=(100,))
    assert np.all(np.isfinite(draws["a"])) and np.std(draws["a"]) > 0


def prior_only():
    numpyro.sample("w", dist.Normal(0.0, 1.0).expand([2]).to_event(1))


def test_bad_arguments_have_clear_errors():
    with pytest.raises(ValueError, match="curvature='fisher'"):
        AutoLaplace(linreg, curvature="fisher")
    with pytest.raises(ValueError, match="fit_laplace"):
        AutoLaplace(linreg, structure="kron")
    with pytest.raises(ValueError, match="structure='block'"):
        AutoLaplace(linreg, structure="block")
    with pytest.raises(ValueError, match="rank=0"):
        AutoLaplace(linreg, structure="lowrank", rank=0)
    with pytest.raises(ValueError, match="min_eigenvalue"):
        AutoLaplace(linreg, min_eigenvalue=0.0)
    loc = {"auto_loc": jnp.zeros(D)}
    g = _set_up(AutoLaplace(linreg, curvature="ggn"), X_LIN, Y_LIN)
    with pytest.raises(ValueError, match="deterministic site 'logits'"):
        g.laplace_params(loc)
    g = _set_up(AutoLaplace(prior_only, curvature="ef"))
    with pytest.raises(ValueError, match="needs observed sites"):
        g.laplace_params({"auto_loc": jnp.zeros(2)})
    g = _set_up(AutoLaplace(linreg), X_LIN, Y_LIN)
    with pytest.raises(ValueError, match="not finite"):
        g.laplace_params({"auto_loc": jnp.full(D, jnp.nan)})


def unused_logits(X, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([X.shape[1]]).to_event(1))
    numpyro.deterministic("logits", X @ w)
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=X @ w * 0 + 0.1), obs=y)


def test_ggn_needs_an_observed_site_that_uses_the_logits():
    g = _set_up(AutoLaplace(unused_logits, curvature="ggn"), X_CLS, Y_BIN)
    with pytest.raises(ValueError, match="no observed site depends"):
        g.laplace_params({"auto_loc": jnp.zeros(2)})


@pytest.mark.parametrize(
    "name",
    [
        "logistic_regression",
        pytest.param("unscaled_regression", marks=pytest.mark.slow),
        pytest.param("logistic_1e4", marks=pytest.mark.slow),
    ],
)
def test_map_is_the_newton_map_after_few_first_order_steps(name):
    """20 Adam steps stop far from the mode; post_fit's Newton search reaches it."""
    import probapprox as pa
    from probapprox.models import get_model
    from probapprox.models.ill_conditioned import CASES

    bm = CASES[name] if name in CASES else get_model(name)
    guide = AutoLaplace(bm.model)
    r = pa.fit(bm.model, guide, *bm.args, num_steps=20, progress=False, **bm.kwargs)
    assert guide.map_info["relative_grad_norm"] < 1e-6
    assert guide.map_info["decrement"] < 1e-12
    if bm.reference is not None and bm.reference.cov is not None:  # Gaussian: Laplace is exact
        draws = r.sample(20_000, seed=3)["beta"]
        sd = bm.reference.sd["beta"]
        np.testing.assert_allclose(r.params["auto_loc"], bm.reference.mean["beta"], rtol=1e-6)
        np.testing.assert_allclose(draws.std(0), sd, rtol=0.03)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "logistic_regression",
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured gap 1.52 nats at the exact MAP (rel. grad 4e-14): the Laplace "
                "Gaussian N(MAP, H^-1) of this skewed 31-D posterior is itself 1.5 nats below "
                "the best Gaussian; no MAP search can close it",
            ),
        ),
        "unscaled_regression",
        "logistic_1e4",
        "garch11",
    ],
)
def test_laplace_elbo_is_within_half_a_nat_of_the_full_rank_gaussian(name):
    """At the Newton MAP, Laplace's ELBO is within 0.5 nats of AutoMultivariateNormal's.

    Measured (20 Adam steps, then post_fit's Newton): unscaled_regression gap 3e-6 (exact:
    both are the posterior), logistic_1e4 0.006, garch11 0.12; the unscaled breast-cancer
    regression (not bundled) 0.26.
    """
    from numpyro.infer.autoguide import AutoMultivariateNormal

    from probapprox.models import get_model
    from probapprox.models.ill_conditioned import CASES

    bm = CASES[name] if name in CASES else get_model(name)
    guide = AutoLaplace(bm.model)
    lap = pa.fit(bm.model, guide, *bm.args, num_steps=20, progress=False, **bm.kwargs)
    assert guide.map_info["relative_grad_norm"] < 1e-6
    gauss = AutoMultivariateNormal(bm.model)
    mvn = pa.fit(bm.model, gauss, *bm.args, progress=False, **bm.kwargs)
    d_lap = lap.diagnostics(20_000, seed=4, warn=False)
    d_mvn = mvn.diagnostics(20_000, seed=4, warn=False)
    assert d_mvn.elbo - d_lap.elbo < 0.5, (d_lap.elbo, d_mvn.elbo)
