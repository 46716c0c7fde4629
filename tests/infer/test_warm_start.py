"""Warm start and whitening: exact parameter maps, invisible to the user, skipped with a reason."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.infer.autoguide import (
    AutoDiagonalNormal,
    AutoIAFNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

import probapprox as pa
from probapprox.guides import AutoIsoGaussianMixture, AutoNormalizingFlow
from probapprox.infer._flat import flat_latent
from probapprox.infer._whiten import whitener_for
from probapprox.models import get_model
from tests.infer.conftest import linreg_model


def small_model():
    numpyro.sample("a", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    numpyro.sample("s", dist.LogNormal(0.0, 0.5))


def _setup(guide):
    handlers.seed(guide, 0)()
    return flat_latent(guide)


def _random_params(guide, key):
    """The guide's parameters, perturbed (so the map is tested away from its start)."""
    tr = handlers.trace(handlers.seed(guide, 0)).get_trace()
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**30)))  # host: no compiles
    out = {}
    for n, s in ((n, s) for n, s in tr.items() if s["type"] == "param"):
        v = jnp.asarray(s["value"])
        noise = 0.3 * rng.standard_normal(v.shape)
        out[n] = jnp.tril(v + noise) if n.endswith("scale_tril") else v + noise
        if n.endswith("scale") or n.endswith("scale_tril"):
            out[n] = jnp.abs(out[n]) if n.endswith("scale") else out[n]
    if "auto_scale_tril" in out:
        out["auto_scale_tril"] = (
            out["auto_scale_tril"]
            .at[jnp.diag_indices(3)]
            .set(jnp.abs(jnp.diagonal(out["auto_scale_tril"])) + 0.1)
        )
    return out


@pytest.mark.parametrize(
    "make",
    [
        AutoMultivariateNormal,
        AutoDiagonalNormal,
        AutoLowRankMultivariateNormal,
        AutoNormal,
        lambda m: AutoNormalizingFlow(m, flow="affine_coupling", num_layers=2),
        lambda m: AutoNormalizingFlow(m, flow="planar", num_layers=2),
        lambda m: AutoNormalizingFlow(m, flow="maf", num_layers=2),
    ],
    ids=["mvn", "diag", "lowrank", "normal", "flow", "planar", "maf"],
)
def test_parameter_map_is_an_exact_affine_image(make):
    """Draws of the mapped guide are exactly shift + C (draws of the whitened guide)."""
    guide = make(small_model)
    flat = _setup(guide)
    whitener, reason = whitener_for(guide, flat, dense_max=10)
    assert whitener is not None, reason
    key = jax.random.PRNGKey(3)
    params_u = _random_params(guide, key)
    shift = jnp.array([1.0, -2.0, 0.5])
    if whitener.structure == "dense":
        factor = jnp.array([[2.0, 0.0, 0.0], [0.5, 0.1, 0.0], [-1.0, 0.3, 3.0]])
    else:
        factor = jnp.array([2.0, 0.1, 3.0])
    params_z = whitener.to_model(params_u, shift, factor)
    names = list(flat.shapes)

    def latent(params, seed):
        tr = handlers.trace(handlers.seed(handlers.substitute(guide, params), seed)).get_trace()
        # unconstrained: a is real, s = exp(.)
        return jnp.concatenate([tr["a"]["value"], jnp.log(tr["s"]["value"])[None]])

    for seed in range(3):
        zu, zz = latent(params_u, seed), latent(params_z, seed)
        expected = shift + (factor @ zu if factor.ndim == 2 else factor * zu)
        np.testing.assert_allclose(zz, expected, rtol=1e-10, atol=1e-10)
    assert names == ["a", "s"]


def _maf(m):
    return AutoNormalizingFlow(m, flow="maf", num_layers=2)


def _maf_spline(m):
    return AutoNormalizingFlow(m, flow="maf_spline", num_layers=2)


@pytest.mark.parametrize(
    ("make", "dense_max", "estimator"),
    [
        (AutoMultivariateNormal, 10, "trace"),
        (_maf, 10, "trace"),
        (_maf, 10, "path"),
        (_maf, 1, "path"),
        (_maf_spline, 10, "trace"),
        (_maf_spline, 10, "path"),
    ],
    ids=["mvn-trace", "maf-trace", "maf-path", "maf-diag-path", "spline-trace", "spline-path"],
)
def test_the_loss_maps_draws_exactly_as_the_parameter_map(make, dense_max, estimator):
    """The step's loss (whitened parameters, mapped latent draws) equals the loss of the
    mapped parameters, in value and in gradient with respect to the whitened parameters."""
    from numpyro.infer import Trace_ELBO

    from probapprox.estimators import PathELBO
    from probapprox.infer._whiten import loss_guide

    guide = make(small_model)
    whitener, reason = whitener_for(guide, _setup(guide), dense_max=dense_max)
    assert whitener is not None, reason
    if isinstance(guide, AutoMultivariateNormal):  # fit maps its parameters: test the fallback
        assert whitener.latent_site is None
        whitener = whitener._replace(latent_site="_auto_latent")
    assert whitener.latent_site == "_auto_latent"
    params_u = _random_params(guide, jax.random.PRNGKey(4))
    shift = jnp.array([1.0, -2.0, 0.5])
    if whitener.structure == "dense":
        factor = jnp.array([[2.0, 0.0, 0.0], [0.5, 0.1, 0.0], [-1.0, 0.3, 3.0]])
    else:
        factor = jnp.array([2.0, 0.1, 3.0])
    elbo = Trace_ELBO(4) if estimator == "trace" else PathELBO(4)
    key = jax.random.PRNGKey(7)

    def by_params(p):
        return elbo.loss(key, whitener.to_model(p, shift, factor), small_model, guide)

    def by_draws(p):
        return elbo.loss(key, p, small_model, loss_guide(guide, whitener, shift, factor))

    (a, ga), (b, gb) = (
        jax.jit(jax.value_and_grad(by_params))(params_u),
        jax.jit(jax.value_and_grad(by_draws))(params_u),
    )
    assert np.isfinite(float(a)) and abs(float(a) - float(b)) < 1e-9 * max(1.0, abs(float(a)))
    for name in params_u:  # a scale_tril's free entries are its lower triangle
        keep = jnp.tril if name.endswith("scale_tril") else (lambda g: g)
        np.testing.assert_allclose(keep(gb[name]), keep(ga[name]), 1e-7, 1e-9, err_msg=name)
    assert any(float(jnp.max(jnp.abs(g))) > 1e-3 for g in jax.tree.leaves(ga))  # not vacuous


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda m: AutoIsoGaussianMixture(m, num_components=2), "isotropic"),
        (lambda m: pa.guides.AutoLaplace(m), "MAP + curvature"),
        (lambda m: AutoIAFNormal(m, num_flows=1), "no exact map"),
    ],
)
def test_unsupported_guides_are_skipped_with_a_reason(make, reason):
    r = pa.fit(small_model, make(small_model), num_steps=30, progress=False)
    assert r.info["warm_start"].startswith("not applied") and reason in r.info["warm_start"]
    assert all(np.all(np.isfinite(np.asarray(v))) for v in jax.tree.leaves(r.params))


def test_whitening_changes_nothing_the_user_sees(linreg_data):
    """Same guide, same model: whitened and plain fits give the same distribution."""
    X, y = linreg_data
    fits = {
        ws: pa.fit(
            linreg_model,
            AutoMultivariateNormal(linreg_model),
            X,
            y,
            num_steps=3000,
            warm_start=ws,
            progress=False,
        )
        for ws in (True, False)
    }
    assert fits[True].info["warm_start"] == "dense whitening at the MAP"
    assert set(fits[True].params) == set(fits[False].params)
    draws = {ws: f.sample(20_000, seed=4) for ws, f in fits.items()}
    for site in ("beta", "beta_norm"):
        a, b = draws[True][site], draws[False][site]
        sd = b.std(0)
        assert np.all(np.abs(a.mean(0) - b.mean(0)) < 0.05 * sd)
        assert np.all(np.abs(a.std(0) / sd - 1) < 0.05)
    tree = fits[True].to_arviz(num_samples=500)
    post = tree["posterior"]["beta"].values.reshape(500, -1)
    np.testing.assert_allclose(post, fits[True].sample(500, seed=1)["beta"])
    # exact posterior of the conjugate model: the whitened fit's own parameters
    prec = X.T @ X / 0.25 + np.eye(3)
    cov = np.linalg.inv(prec)
    mean = cov @ X.T @ y / 0.25
    sd = np.sqrt(np.diag(cov))
    L = np.asarray(fits[True].params["auto_scale_tril"])
    assert np.all(np.abs(np.asarray(fits[True].params["auto_loc"]) - mean) < 0.05 * sd)
    assert np.linalg.norm(L @ L.T - cov) < 0.05 * np.linalg.norm(cov)


def test_whitened_fit_saves_loads_and_resumes(tmp_path, linreg_data):
    X, y = linreg_data
    r = pa.fit(linreg_model, AutoNormal(linreg_model), X, y, num_steps=200, progress=False)
    assert r.info["warm_start"] == "diag whitening at the MAP"
    r.save(tmp_path / "fit.npz")
    again = pa.load(tmp_path / "fit.npz", linreg_model)
    np.testing.assert_array_equal(again.sample(50, seed=2)["beta"], r.sample(50, seed=2)["beta"])


def test_funnel_warm_start_keeps_the_bulk_not_the_neck():
    """The joint density peaks at the neck (v = -40.5); the path's best Laplace is in the bulk."""
    bm = get_model("funnel")
    r = pa.fit(bm.model, AutoNormal(bm.model), *bm.args, num_steps=20, progress=False, **bm.kwargs)
    assert r.info["warm_start"] == "diag whitening at the MAP"
    assert abs(float(r.params["v_auto_loc"])) < 5.0


def walled():
    """N(0, 1) inside |x| < 0.8 and a NaN density outside: Laplace draws cross the wall."""
    x = numpyro.sample("x", dist.Normal(0.0, 1.0))
    numpyro.factor("wall", jnp.where(jnp.abs(x) < 0.8, 0.0, jnp.nan))


def test_a_worse_laplace_start_is_rejected():
    guide = AutoNormal(walled, init_loc_fn=numpyro.infer.init_to_value(values={"x": 0.1}))
    r = pa.fit(walled, guide, num_steps=20, skip_nonfinite=True, progress=False)
    assert r.info["warm_start"].startswith("not applied: the Laplace start's ELBO (-inf)")
    assert float(r.params["x_auto_loc"]) != 0.0  # the guide's own start, fitted


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"warm_start": "yes"}, "warm_start"),
        ({"num_starts": 0}, "num_starts"),
        ({"multi_start": "mix"}, "multi_start"),
        ({"dense_max": 0}, "dense_max"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name, linreg_data):
    with pytest.raises((TypeError, ValueError), match=name):
        pa.fit(linreg_model, AutoNormal(linreg_model), *linreg_data, progress=False, **kwargs)


def test_newton_and_factor_on_an_ill_conditioned_quadratic():
    """cond(H) = 1e10: the MAP in two Newton steps, C Cᵀ = H⁻¹ to working precision."""
    from probapprox.infer._warmstart import warm_start

    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    hess = q @ np.diag([1e-4, 1.0, 1e3, 1e6]) @ q.T
    mode = np.array([1e3, -2.0, 0.5, 3e-3])

    def u(z):
        return 0.5 * (z - mode) @ hess @ (z - mode)

    eps = jnp.asarray(rng.normal(size=(16, 4)))
    out = jax.jit(
        lambda z: warm_start(u, z, jnp.asarray(0.1), eps, structure="dense", dense_max=10)
    )(jnp.zeros(4))
    assert bool(out.accepted) and int(out.num_clipped) == 0 and int(out.iterations) <= 3
    assert bool(out.converged)
    delta = np.asarray(out.shift) - mode
    assert delta @ hess @ delta < 1e-10  # squared distance in posterior sds
    c = np.asarray(out.factor)
    assert np.allclose(np.triu(c, 1), 0.0)
    np.testing.assert_allclose(c @ c.T @ hess, np.eye(4), atol=1e-6)


def test_a_search_without_a_mode_is_not_converged():
    """U(z) = exp(-z) decreases for ever: Newton runs off, so the search is not trusted."""
    from probapprox.infer._warmstart import warm_start

    eps = jnp.asarray(np.random.default_rng(0).normal(size=(16, 1)))

    def search(z):
        return warm_start(
            lambda x: jnp.sum(jnp.exp(-x)), z, 1.0, eps, structure="dense", dense_max=9
        )

    out = jax.jit(search)(jnp.zeros(1))
    assert not bool(out.converged)


def runaway():
    """log p(x) = x + const: no mode, Newton runs off."""
    x = numpyro.sample("x", dist.Normal(0.0, 1.0))
    numpyro.factor("tilt", 0.5 * x**2 + x)


def test_prior_candidates_only_when_the_first_search_is_not_trusted():
    """A search that ends at a mode draws nothing from the prior; one that does not, three."""
    from probapprox.infer._candidates import NUM_PRIOR_CANDIDATES

    def searches(model):
        r = pa.fit(model, AutoNormal(model), num_steps=2, progress=False)
        return r.info["warm_start_details"]["num_searches"]

    assert searches(small_model) == 1
    assert searches(runaway) == 1 + NUM_PRIOR_CANDIDATES


def test_search_points_and_the_trust_rule():
    """Start 0's candidates come with a multi-start fit's own draws, else only on request."""
    from probapprox.infer._candidates import NUM_PRIOR_CANDIDATES, needs_candidates, search_points

    flat = _setup(AutoNormal(small_model))

    def owners(k, candidates):
        _, owner = search_points(
            small_model, flat, (), {}, 0, k, candidates=candidates, dense_max=50
        )
        return owner.tolist()

    assert owners(1, False) == [0]
    assert owners(1, True) == [0] * (1 + NUM_PRIOR_CANDIDATES)
    assert owners(3, True) == [0] * (1 + NUM_PRIOR_CANDIDATES) + [1, 2]
    assert owners(3, False) == [0, 1, 2]

    class WS:  # the two fields the rule reads
        def __init__(self, accepted, converged):
            self.accepted, self.converged = np.array([accepted]), np.array([converged])

    assert not needs_candidates(WS(True, True))
    assert needs_candidates(WS(True, False)) and needs_candidates(WS(False, True))
