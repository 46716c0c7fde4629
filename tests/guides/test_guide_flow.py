"""AutoNormalizingFlow: fits against exact answers, NumPyro API, bad input, save/load."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.initialization import init_to_value

import probapprox as pa
from probapprox.estimators import PathELBO
from probapprox.guides import AutoNormalizingFlow
from probapprox.models import get_model
from probapprox.models.rezende import U1_LOG_Z, energy

FLOWS = ["planar", "radial", "affine_coupling", "spline", "maf", "maf_spline"]


def _u1_kl(g, r, num=20_000):
    post = g.get_posterior(r.params)
    z, log_q = post.flow.sample_and_log_prob(post.params, jax.random.PRNGKey(9), (num,))
    return float(jnp.mean(log_q + jax.vmap(lambda t: energy("u1", t))(z)) + U1_LOG_Z)


def _fit_u1(flow, num_layers, num_steps, loss=None, *, warm_start=True, seed=0, **kw):
    bm = get_model("rezende_u1")
    g = AutoNormalizingFlow(
        bm.model,
        flow=flow,
        num_layers=num_layers,
        init_loc_fn=init_to_value(values={"z": jnp.zeros(2)}),
        **kw,
    )
    return g, pa.fit(
        bm.model,
        g,
        *bm.args,
        num_steps=num_steps,
        seed=seed,
        progress=False,
        loss=loss,
        warm_start=warm_start,
    )


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "flow",
    [
        "planar",
        "spline",
        pytest.param("radial", marks=SLOW),
        pytest.param("affine_coupling", marks=SLOW),
    ],
)
def test_conjugate_normal_posterior(flow):
    bm = get_model("normal_normal")
    g = AutoNormalizingFlow(bm.model, flow=flow, num_layers=2, hidden_dims=(16,))
    r = pa.fit(bm.model, g, *bm.args, num_steps=2500, seed=0, progress=False, **bm.kwargs)
    mu = r.sample(20_000, seed=1)["mu"]
    ref = bm.reference
    np.testing.assert_allclose(np.mean(mu), ref.mean["mu"], atol=0.03)
    np.testing.assert_allclose(np.std(mu), ref.sd["mu"], rtol=0.08)


def test_u1_planar_kl_small_and_decreasing_with_layers_fast():
    """Default-run version: K = 2 vs K = 8 planar (the K ∈ {2, 8, 32} run is marked slow)."""
    kls = [_u1_kl(*_fit_u1("planar", k, 1500)) for k in (2, 8)]
    assert kls[1] < kls[0]


@pytest.mark.slow
def test_u1_acceptance_planar_2_8_32_and_spline_8():
    # Rezende & Mohamed's set-up: the planar flows start from the standard normal base at the
    # ring's centre. (pa.fit's warm start would start them as the Laplace Gaussian of one lobe,
    # and an unannealed reverse-KL fit then stays there: KL 0.154 at K = 32.)
    kls = [_u1_kl(*_fit_u1("planar", k, 3000, warm_start=False)) for k in (2, 8, 32)]
    assert kls[0] > kls[1] > kls[2]
    assert kls[2] < 0.05
    # Spline: two lobes need the paper's likelihood annealing (unannealed fits put all the
    # mass on one lobe, KL ≈ log 2 ≈ 0.69). The claim is about the recipe, not one seed:
    # benchmarks/bench_flow_anneal.py (this set-up, 8 seeds) measured median KL 0.020, 6 of 8
    # below 0.05 and the worst 0.073; without annealing median 0.67. Seeds 0-2 here: 0.008,
    # 0.056, 0.050 (stop 21), so every seed must keep both lobes (KL < 0.1).
    steps = 8000
    loss = PathELBO(16, path_warmup=steps, anneal_steps=steps // 2)
    kls = []
    for seed in range(3):
        g, r = _fit_u1("spline", 8, steps, init_scale=3.0, loss=loss, seed=seed)
        kls.append(_u1_kl(g, r))
    assert max(kls) < 0.1, kls


@pytest.mark.parametrize(
    ("name", "flow"),
    [pytest.param("funnel", "spline", marks=SLOW), ("banana", "planar")],
)
def test_no_nan_and_khat_reported(name, flow):
    """One seed here; ten seeds of every flow in test_no_nan_over_ten_seeds (slow)."""
    bm = get_model(name)
    g = AutoNormalizingFlow(bm.model, flow=flow, num_layers=4, hidden_dims=(16,))
    r = pa.fit(bm.model, g, *bm.args, num_steps=300, seed=0, progress=False, **bm.kwargs)
    assert np.all(np.isfinite(r.losses))
    d = r.diagnostics(2000, seed=0, warn=False)
    assert np.isfinite(d.pareto_k)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["funnel", "banana"])
def test_no_nan_over_ten_seeds(name):
    bm = get_model(name)
    for flow in FLOWS:
        for seed in range(10):
            g = AutoNormalizingFlow(bm.model, flow=flow, num_layers=4)
            r = pa.fit(bm.model, g, *bm.args, num_steps=1000, seed=seed, progress=False)
            assert np.all(np.isfinite(r.losses)), (flow, seed)
            assert np.isfinite(r.diagnostics(2000, seed=0, warn=False).pareto_k)


@pytest.mark.slow
def test_student_t_base_learns_heavy_tails():
    """Target: independent t_3 marginals. The learned ν moves from 30 towards 3."""

    def model():
        numpyro.sample("x", dist.StudentT(3.0, 0.0, 1.0).expand([2]).to_event(1))

    g = AutoNormalizingFlow(model, flow="affine_coupling", num_layers=2, base="student_t")
    r = pa.fit(model, g, num_steps=3000, seed=0, progress=False)
    nu = 1.0 + jnp.exp(r.params["auto_base_df"])
    assert np.all(nu < 8.0), nu


def test_numpyro_api_svi_median_quantiles_posterior():
    bm = get_model("normal_normal")
    g = AutoNormalizingFlow(bm.model, flow="affine_coupling", num_layers=2)
    with pytest.raises(RuntimeError, match="not been initialised"):
        g.get_posterior({})
    svi = SVI(bm.model, g, numpyro.optim.Adam(3e-3), PathELBO(4))
    res = svi.run(jax.random.PRNGKey(0), 1500, *bm.args, progress_bar=False, **bm.kwargs)
    med = g.median(res.params)["mu"]
    q = g.quantiles(res.params, [0.1, 0.9])["mu"]
    assert q.shape == (2,) and q[0] < med < q[1]
    np.testing.assert_allclose(med, bm.reference.mean["mu"], atol=0.05)
    draws = g.sample_posterior(jax.random.PRNGKey(1), res.params, sample_shape=(7,))
    assert draws["mu"].shape == (7,)
    post = g.get_posterior(res.params)
    z = post.sample(jax.random.PRNGKey(2), (5,))
    assert post.log_prob(z).shape == (5,)
    with pytest.raises(NotImplementedError, match="get_posterior"):
        g.get_transform(res.params)
    val = Trace_ELBO().loss(jax.random.PRNGKey(3), res.params, bm.model, g, *bm.args, **bm.kwargs)
    assert np.isfinite(float(val))


def test_bad_input_errors():
    bm = get_model("normal_normal")
    with pytest.raises(ValueError, match="planar.*radial.*affine_coupling.*spline.*maf"):
        AutoNormalizingFlow(bm.model, flow="iaf")
    with pytest.raises(ValueError, match="num_layers"):
        AutoNormalizingFlow(bm.model, num_layers=0)
    with pytest.raises(ValueError, match="base"):
        AutoNormalizingFlow(bm.model, base="laplace")

    def bad():
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        numpyro.factor("energy", jnp.where(x > 0.5, jnp.nan, 0.0))

    start = init_to_value(values={"x": 0.0})
    g = AutoNormalizingFlow(bad, flow="planar", num_layers=2, init_loc_fn=start)
    with pytest.raises(pa.NonFiniteError, match="energy"):
        pa.fit(bad, g, num_steps=50, seed=0, progress=False)


@pytest.mark.parametrize("flow", ["radial", "maf", "maf_spline"])
def test_save_load(tmp_path, flow):
    bm = get_model("normal_normal")
    g = AutoNormalizingFlow(bm.model, flow=flow, num_layers=3, hidden_dims=(8,))
    r = pa.fit(bm.model, g, *bm.args, num_steps=200, seed=0, progress=False, **bm.kwargs)
    r.save(tmp_path / "fit.npz", include_data=False)
    loaded = pa.load(tmp_path / "fit.npz", bm.model)
    np.testing.assert_allclose(loaded.sample(50, seed=3)["mu"], r.sample(50, seed=3)["mu"])
    assert loaded.guide.get_config()["flow"] == flow


def test_load_refuses_another_parameter_layout(tmp_path, monkeypatch):
    """A flow saved before its layers changed would load as a different q: refused, by name."""
    bm = get_model("normal_normal")
    g = AutoNormalizingFlow(bm.model, num_layers=2, hidden_dims=(8,))
    r = pa.fit(bm.model, g, *bm.args, num_steps=50, seed=0, progress=False, **bm.kwargs)
    r.save(tmp_path / "fit.npz", include_data=False)
    layout = AutoNormalizingFlow.PARAM_LAYOUT
    monkeypatch.setattr(AutoNormalizingFlow, "PARAM_LAYOUT", layout + 1)
    with pytest.raises(pa.NotAProbapproxFile, match=f"AutoNormalizingFlow.*layout {layout}.*Refit"):
        pa.load(tmp_path / "fit.npz", bm.model)


def test_default_estimators():
    bm = get_model("normal_normal")
    g = AutoNormalizingFlow(bm.model, flow="radial", num_layers=3)
    loss = g.default_loss(1000)
    assert isinstance(loss, PathELBO) and loss.path_warmup == 500
    assert loss.anneal_steps == 250 and loss.temper == "likelihood"
    assert g.default_loss(100).anneal_steps is None  # too short a run to anneal
    spline = AutoNormalizingFlow(bm.model, flow="spline")
    assert isinstance(spline.default_loss(1000), Trace_ELBO)
    default = AutoNormalizingFlow(bm.model)
    assert (default.flow, default.num_layers, default.base) == ("maf", 4, "normal")


def _elbo(bm, guide, steps, loss=None):
    r = pa.fit(
        bm.model, guide, *bm.args, num_steps=steps, seed=0, progress=False, loss=loss, **bm.kwargs
    )
    return r, r.diagnostics(20_000, seed=5, warn=False).elbo


@pytest.mark.parametrize(
    ("name", "flow"), [("banana", "maf"), pytest.param("eight_schools", "spline", marks=SLOW)]
)
def test_flow_starts_at_the_warm_start_and_ends_no_worse_than_the_gaussian(name, flow):
    """Unannealed, the whitened flow starts as the Laplace Gaussian, so it ends at least as good.

    (The default estimator of the affine flows anneals the likelihood, and an annealed fit
    starts wide instead of at the MAP; here the same estimator without the annealing.)
    """
    from numpyro.infer.autoguide import AutoMultivariateNormal

    bm = get_model(name)
    g = AutoNormalizingFlow(bm.model, flow=flow, num_layers=4, hidden_dims=(16, 16))
    loss = PathELBO(g.num_particles, path_warmup=500) if flow != "spline" else None
    r, flow_elbo = _elbo(bm, g, 1000, loss=loss)
    assert "whitening at the MAP" in r.info["warm_start"], r.info["warm_start"]
    _, gauss_elbo = _elbo(bm, AutoMultivariateNormal(bm.model), 1000)
    assert flow_elbo > gauss_elbo - 0.02, (flow_elbo, gauss_elbo)


def _eight_schools_log_z():
    """Exact log Z of the non-centred eight schools: θ integrated out, 2-D quadrature.

    y_j | μ, τ ~ N(μ, σ_j² + τ²); log Z = log ∫∫ N(μ; 0, 5²) HalfCauchy(τ; 5) Π_j N(y_j; μ,
    σ_j² + τ²) dμ dτ, over log τ (with its Jacobian) so the integrand is smooth.
    """
    from scipy import integrate, stats

    from probapprox.models.eight_schools import EIGHT_SCHOOLS_SIGMA as s
    from probapprox.models.eight_schools import EIGHT_SCHOOLS_Y as y

    def f(mu, log_tau):
        tau = np.exp(log_tau)
        lp = stats.norm.logpdf(mu, 0, 5) + stats.halfcauchy.logpdf(tau, scale=5) + log_tau
        return np.exp(lp + stats.norm.logpdf(y, mu, np.sqrt(s**2 + tau**2)).sum() + 31.0)

    val, _ = integrate.dblquad(f, -30, 15, -60, 60, epsabs=1e-13, epsrel=1e-10)
    return float(np.log(val) - 31.0)


@SLOW
@pytest.mark.parametrize("name", ["funnel", "eight_schools"])
def test_default_flow_is_near_exact_on_hierarchical_targets(name):
    """Defaults only (``AutoNormalizingFlow(model)``, ``pa.fit``): KL(q‖p) = log Z − ELBO ≤ 0.05.

    The funnel's log Z is 0; eight schools' is −31.3113 by quadrature (so no q reaches an
    ELBO of −31.30). Measured, seed 0: funnel KL 0.035, eight schools 0.022 with the MADE skip
    (0.061 and 0.035 without it).
    """
    bm = get_model(name)
    log_z = 0.0 if name == "funnel" else _eight_schools_log_z()
    if name == "eight_schools":
        assert abs(log_z - (-31.3113)) < 1e-3, log_z
    with warnings.catch_warnings():  # the 5000-step cap may end unsettled: not the point here
        warnings.simplefilter("ignore", pa.ConvergenceWarning)
        warnings.simplefilter("ignore", pa.ApproximationWarning)
        g = AutoNormalizingFlow(bm.model)
        r = pa.fit(bm.model, g, *bm.args, seed=0, progress=False, **bm.kwargs)
    d = r.diagnostics(20_000, seed=1000, warn=False)
    assert d.elbo < log_z + 4 * d.elbo_se, (d.elbo, log_z)  # the ELBO is a lower bound
    assert log_z - d.elbo <= 0.05, (d.elbo, log_z)


def _three_d():
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([3]).to_event(1))


@pytest.mark.parametrize("flow", ["maf", "maf_spline"])
def test_made_skip_off_drops_the_skip_weights_and_round_trips_its_config(flow):
    from numpyro import handlers

    names = {}
    for skip in (True, False):
        g = AutoNormalizingFlow(_three_d, flow=flow, num_layers=2, made_skip=skip)
        tr = handlers.trace(handlers.seed(g, 0)).get_trace()
        names[skip] = {n for n, s in tr.items() if s["type"] == "param"}
        assert AutoNormalizingFlow(_three_d, **g.get_config()).made_skip is skip
    assert {n for n in names[True] if n.endswith("_S")} == names[True] - names[False] != set()
    with pytest.raises(TypeError, match="made_skip"):
        AutoNormalizingFlow(_three_d, made_skip="no")
