"""Tests for the bundled models (models/): sites, registry, and exact references.

References are checked independently of how models/ computes them: by quadrature of the
model's own log density (numpyro.infer.util.log_density on a grid), by dense formulas in data
space, and by scipy densities.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from numpyro.distributions.distribution import Unit
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import expit, logsumexp

import probapprox.models as models
from probapprox.models import MODELS, BundledModel, Reference, get_model

# name -> (latent sample sites with shapes, observed sites incl. factors, deterministic sites)
EXPECTED_SITES = {
    "normal_normal": ({"mu": ()}, {"obs": (20,)}, {}),
    "beta_bernoulli": ({"p": ()}, {"obs": (20,)}, {}),
    "linear_regression": ({"beta": (5,)}, {"obs": (100,)}, {"beta_norm": ()}),
    "eight_schools": (
        {"mu": (), "tau": (), "theta_tilde": (8,)},
        {"obs": (8,)},
        {"theta": (8,)},
    ),
    "logistic_regression": ({"w": (30,), "b": ()}, {"obs": (569,)}, {}),
    "funnel": ({"v": (), "x": (9,)}, {}, {}),
    "banana": ({"x": (2,)}, {"log_density": ()}, {}),
    "four_modes": ({"x": (2,)}, {"log_density": ()}, {}),
    "four_modes_unequal": ({"x": (2,)}, {"log_density": ()}, {}),
    "rezende_u1": ({"z": (2,)}, {"energy": ()}, {}),
    "rezende_u2": ({"z": (2,)}, {"energy": ()}, {}),
    "rezende_u3": ({"z": (2,)}, {"energy": ()}, {}),
    "rezende_u4": ({"z": (2,)}, {"energy": ()}, {}),
    "mog2d": ({"x": (2,)}, {"log_density": ()}, {}),
    "mog10d": ({"x": (10,)}, {"log_density": ()}, {}),
}
# Sites with an improper flat prior cannot be sampled forward: substitute a value to trace.
IMPROPER = {
    "banana": {"x": np.array([0.3, -0.2])},
    "four_modes": {"x": np.array([0.3, -0.2])},
    "four_modes_unequal": {"x": np.array([0.3, -0.2])},
    "rezende_u1": {"z": np.array([0.3, -0.2])},
    "mog2d": {"x": np.array([0.3, -0.2])},
    "mog10d": {"x": np.linspace(-1.0, 1.0, 10)},
}
NAMES = sorted(EXPECTED_SITES)


def _trace(bundle: BundledModel, seed: int = 0):
    model = handlers.substitute(bundle.model, data=IMPROPER.get(bundle.name, {}))
    return handlers.trace(handlers.seed(model, seed)).get_trace(*bundle.args, **bundle.kwargs)


def _batched_log_density(bundle: BundledModel):
    def one(params):
        return log_density(bundle.model, bundle.args, bundle.kwargs, params)[0]

    return jax.jit(jax.vmap(one))


def _trapezoid(lo: float, hi: float, num: int):
    x = np.linspace(lo, hi, num)
    w = np.full(num, (hi - lo) / (num - 1))
    w[[0, -1]] *= 0.5
    return x, w


def _grid_moments(logp: np.ndarray, log_w: np.ndarray, pts: np.ndarray):
    """log Z, mean and covariance of exp(logp) from quadrature nodes and log weights."""
    log_z = float(logsumexp(logp + log_w))
    prob = np.exp(logp + log_w - log_z)
    mean = prob @ pts
    centred = pts - mean
    return log_z, mean, centred.T @ (centred * prob[:, None])


def _grid_2d(bundle: BundledModel, site: str, box1, box2, num1: int, num2: int):
    x1, w1 = _trapezoid(*box1, num1)
    x2, w2 = _trapezoid(*box2, num2)
    g1, g2 = np.meshgrid(x1, x2, indexing="ij")
    pts = np.stack([g1.ravel(), g2.ravel()], axis=-1)
    logp = np.asarray(_batched_log_density(bundle)({site: jnp.asarray(pts)}))
    return _grid_moments(logp, np.log(np.outer(w1, w2)).ravel(), pts)


# --- registry ------------------------------------------------------------------------------


def test_registry_names_and_types():
    assert set(MODELS) == set(EXPECTED_SITES)
    assert set(models.__all__) == {"MODELS", "BundledModel", "Reference", "get_model"}
    for name, bundle in MODELS.items():
        assert isinstance(bundle, BundledModel)
        assert bundle.name == name
        assert get_model(name) is bundle
        assert bundle.description
        assert bundle.reference is None or isinstance(bundle.reference, Reference)


def test_get_model_unknown_name_lists_sorted_names():
    listing = ", ".join(sorted(MODELS))
    with pytest.raises(ValueError, match="Unknown bundled model 'nope'") as info:
        get_model("nope")
    assert listing in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_model_traces_with_documented_sites_and_finite_gradient(name):
    bundle = get_model(name)
    latent, observed, deterministic = EXPECTED_SITES[name]
    trace = _trace(bundle)
    samples = {k: s for k, s in trace.items() if s["type"] == "sample"}
    got_latent = {k: s["value"].shape for k, s in samples.items() if not s["is_observed"]}
    got_obs = {
        # a numpyro.factor is an observed site of a Unit distribution holding the log factor
        k: jnp.shape(s["fn"].log_factor if isinstance(s["fn"], Unit) else s["value"])
        for k, s in samples.items()
        if s["is_observed"]
    }
    got_det = {k: s["value"].shape for k, s in trace.items() if s["type"] == "deterministic"}
    assert got_latent == latent
    assert got_obs == observed
    assert got_det == deterministic
    # The joint log density and its gradient are finite at the traced point.
    point = {k: samples[k]["value"] for k in latent}
    value, grads = jax.jit(
        jax.value_and_grad(lambda p: log_density(bundle.model, bundle.args, bundle.kwargs, p)[0])
    )(point)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS[n].reference is not None])
def test_reference_is_consistent_with_trace(name):
    ref = get_model(name).reference
    latent = EXPECTED_SITES[name][0]
    if ref.mean is not None:
        assert set(ref.mean) == set(ref.sd) == set(latent)
        for site, shape in latent.items():
            assert np.shape(ref.mean[site]) == shape == np.shape(ref.sd[site])
    if ref.cov is not None:
        assert set(ref.sites) == set(latent)
        size = sum(math.prod(latent[s]) for s in ref.sites)
        assert ref.cov.shape == (size, size)
        np.testing.assert_allclose(ref.cov, ref.cov.T)
        sd = np.concatenate([np.ravel(ref.sd[s]) for s in ref.sites])
        np.testing.assert_allclose(np.sqrt(np.diag(ref.cov)), sd, rtol=1e-12)
        assert np.all(np.linalg.eigvalsh(ref.cov) > 0)


# --- conjugate models ----------------------------------------------------------------------


def _posterior_identity(bundle: BundledModel, site: str, draws: np.ndarray, log_post):
    """log p(y, theta) - log p(theta | y) must equal log Z at every theta."""
    joint = np.asarray(_batched_log_density(bundle)({site: jnp.asarray(draws)}))
    np.testing.assert_allclose(joint - log_post(draws), bundle.reference.log_Z, rtol=0, atol=1e-9)


def test_normal_normal_reference():
    bundle = get_model("normal_normal")
    ref, y = bundle.reference, bundle.kwargs["y"]
    n = y.size
    # Evidence: y ~ N(0 * 1, sigma^2 I + s0^2 11^T) with sigma = 1, s0 = 2.
    cov = np.eye(n) + 4.0 * np.ones((n, n))
    assert ref.log_Z == pytest.approx(stats.multivariate_normal(np.zeros(n), cov).logpdf(y))
    # Posterior moments by quadrature of the model's own density.
    mu, w = _trapezoid(-3.0, 5.0, 4001)
    logp = np.asarray(_batched_log_density(bundle)({"mu": jnp.asarray(mu)}))
    log_z, mean, var = _grid_moments(logp, np.log(w), mu[:, None])
    assert log_z == pytest.approx(ref.log_Z, abs=1e-8)
    assert mean[0] == pytest.approx(float(ref.mean["mu"]), abs=1e-8)
    assert math.sqrt(var[0, 0]) == pytest.approx(float(ref.sd["mu"]), abs=1e-8)
    post = stats.norm(float(ref.mean["mu"]), float(ref.sd["mu"]))
    _posterior_identity(bundle, "mu", np.array([-1.0, 0.5, 0.8, 2.0]), post.logpdf)


def test_beta_bernoulli_reference():
    bundle = get_model("beta_bernoulli")
    ref, y = bundle.reference, bundle.kwargs["y"]
    p, w = _trapezoid(1e-9, 1.0 - 1e-9, 20001)
    logp = np.asarray(_batched_log_density(bundle)({"p": jnp.asarray(p)}))
    log_z, mean, var = _grid_moments(logp, np.log(w), p[:, None])
    assert log_z == pytest.approx(ref.log_Z, abs=1e-6)
    assert mean[0] == pytest.approx(float(ref.mean["p"]), abs=1e-7)
    assert math.sqrt(var[0, 0]) == pytest.approx(float(ref.sd["p"]), abs=1e-7)
    k = int(y.sum())
    post = stats.beta(2 + k, 2 + y.size - k)
    _posterior_identity(bundle, "p", np.array([0.1, 0.3, 0.6]), post.logpdf)


# --- linear regression ---------------------------------------------------------------------


def test_linear_regression_reference_against_data_space_formulas():
    bundle = get_model("linear_regression")
    ref, (x,), y = bundle.reference, bundle.args, bundle.kwargs["y"]
    n, d = x.shape
    sigma2, tau2 = 1.0, 4.0
    # Conditioning the joint Gaussian (beta, y) on y, in data space (n x n solves).
    c = sigma2 * np.eye(n) + tau2 * x @ x.T
    mean = tau2 * x.T @ np.linalg.solve(c, y)
    cov = tau2 * np.eye(d) - tau2**2 * x.T @ np.linalg.solve(c, x)
    np.testing.assert_allclose(ref.mean["beta"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ref.cov, cov, rtol=1e-8, atol=1e-13)
    np.testing.assert_allclose(ref.sd["beta"], np.sqrt(np.diag(cov)), rtol=1e-8)
    assert ref.log_Z == pytest.approx(stats.multivariate_normal(np.zeros(n), c).logpdf(y))
    # The model's density agrees: log p(y, beta) - log N(beta; mean, cov) == log Z everywhere.
    draws = np.random.default_rng(3).normal(size=(6, d)) + mean
    _posterior_identity(bundle, "beta", draws, stats.multivariate_normal(mean, cov).logpdf)


def test_linear_regression_data_and_deterministic_site():
    bundle = get_model("linear_regression")
    (x,) = bundle.args
    assert x.shape == (100, 5) and x.dtype == np.float64
    np.testing.assert_array_equal(x[:, 0], 1.0)
    corr = np.corrcoef(x[:, 1:], rowvar=False)
    assert corr[0, 1] > 0.3  # the features are correlated by construction
    trace = _trace(bundle)
    beta = trace["beta"]["value"]
    assert trace["beta_norm"]["value"] == pytest.approx(float(jnp.linalg.norm(beta)))


# --- eight schools and logistic regression -------------------------------------------------


def test_eight_schools_density_matches_scipy():
    bundle = get_model("eight_schools")
    (sigma,), y = bundle.args, bundle.kwargs["y"]
    np.testing.assert_array_equal(y, [28, 8, -3, 7, -1, 1, 18, 12])
    np.testing.assert_array_equal(sigma, [15, 10, 16, 11, 9, 11, 10, 18])
    tt = np.linspace(-1.0, 1.0, 8)
    params = {"mu": 2.0, "tau": 3.0, "theta_tilde": tt}
    got, trace = log_density(bundle.model, bundle.args, bundle.kwargs, params)
    want = (
        stats.norm(0, 5).logpdf(2.0)
        + stats.halfcauchy(scale=5).logpdf(3.0)
        + stats.norm.logpdf(tt).sum()
        + stats.norm(2.0 + 3.0 * tt, sigma).logpdf(y).sum()
    )
    assert float(got) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(trace["theta"]["value"], 2.0 + 3.0 * tt)


def test_breast_cancer_csv_and_logistic_density():
    from probapprox.models.logistic import load_breast_cancer

    path = models.__path__[0] + "/data/breast_cancer.csv"
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert table.shape == (569, 31)
    assert not np.isnan(table).any()
    assert header[0] == "mean_radius" and header[-1] == "target" and len(header) == 31
    assert set(np.unique(table[:, -1])) == {0.0, 1.0} and table[:, -1].sum() == 357

    bundle = get_model("logistic_regression")
    (x,), y = bundle.args, bundle.kwargs["y"]
    x_raw, _, names = load_breast_cancer(standardize=False)
    np.testing.assert_array_equal(x_raw, table[:, :-1])
    assert names == header[:-1]
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(y, table[:, -1])

    w = np.random.default_rng(0).normal(scale=0.3, size=30)
    got = log_density(bundle.model, bundle.args, bundle.kwargs, {"w": w, "b": 0.4})[0]
    prob = expit(x @ w + 0.4)
    want = (
        stats.norm.logpdf(w).sum()
        + stats.norm(0, 5).logpdf(0.4)
        + np.sum(y * np.log(prob) + (1 - y) * np.log1p(-prob))
    )
    assert float(got) == pytest.approx(want, rel=1e-10)


# --- normalised toy densities --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "box1", "box2", "num1", "num2"),
    [
        ("banana", (-12.0, 12.0), (-8.0, 72.0), 1201, 1601),
        ("four_modes", (-10.0, 10.0), (-10.0, 10.0), 801, 801),
        ("four_modes_unequal", (-10.0, 10.0), (-10.0, 10.0), 801, 801),
        ("mog2d", (-22.0, 22.0), (-22.0, 22.0), 1201, 1201),
    ],
)
def test_toy_density_reference_by_grid_integration(name, box1, box2, num1, num2):
    bundle = get_model(name)
    ref = bundle.reference
    log_z, mean, cov = _grid_2d(bundle, "x", box1, box2, num1, num2)
    assert ref.log_Z == 0.0
    assert log_z == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(mean, ref.mean["x"], atol=1e-5)
    np.testing.assert_allclose(cov, ref.cov, atol=1e-4)


def test_four_modes_weights_and_modes():
    ref_eq = get_model("four_modes").reference
    ref_uneq = get_model("four_modes_unequal").reference
    np.testing.assert_allclose(ref_eq.cov, np.diag([10.0, 10.0]))  # 1 + 3^2 per coordinate
    # 0.1 on (3, 3) and 0.3 on the other three modes: mean 0.1*3 - 0.3*3 = -0.6.
    np.testing.assert_allclose(ref_uneq.mean["x"], [-0.6, -0.6])
    bundle = get_model("four_modes_unequal")
    logp = _batched_log_density(bundle)({"x": jnp.array([[3.0, 3.0], [-3.0, -3.0]])})
    # At a mode the other modes contribute ~e^-18 relative mass; the ratio is w ratio 1/3.
    assert float(logp[0] - logp[1]) == pytest.approx(math.log(1.0 / 3.0), abs=1e-6)


def test_funnel_reference_by_quadrature():
    bundle = get_model("funnel")
    ref = bundle.reference
    assert ref.log_Z == 0.0
    np.testing.assert_allclose(ref.mean["v"], 0.0)
    np.testing.assert_allclose(ref.sd["v"], 3.0)
    np.testing.assert_allclose(ref.mean["x"], np.zeros(9))
    # Var x_i = E exp(v), by 1-D quadrature against N(0, 3^2).
    v, wv = _trapezoid(-40.0, 50.0, 9001)
    e_exp_v = float(np.sum(wv * np.exp(v) * stats.norm(0, 3).pdf(v)))
    np.testing.assert_allclose(ref.sd["x"] ** 2, e_exp_v, rtol=1e-8)
    # The 10-D density is the product of the documented conditionals.
    pt = {"v": 1.3, "x": np.linspace(-2.0, 2.0, 9)}
    got = log_density(bundle.model, bundle.args, bundle.kwargs, pt)[0]
    want = stats.norm(0, 3).logpdf(1.3) + stats.norm(0, math.exp(0.65)).logpdf(pt["x"]).sum()
    assert float(got) == pytest.approx(want, rel=1e-12)
    # 2-D slice (one x): integrate over (v, u) with x = exp(v/2) u, Jacobian exp(v/2).
    v, wv = _trapezoid(-30.0, 40.0, 1401)
    u, wu = _trapezoid(-10.0, 10.0, 401)
    gv, gu = np.meshgrid(v, u, indexing="ij")
    gx = np.exp(gv / 2) * gu
    slice_bundle = BundledModel("funnel2", bundle.model, (), {"num_x": 1}, "", None)
    params = {"v": jnp.asarray(gv.ravel()), "x": jnp.asarray(gx.ravel()[:, None])}
    logp = np.asarray(_batched_log_density(slice_bundle)(params)) + gv.ravel() / 2
    log_w = np.log(np.outer(wv, wu)).ravel()
    pts = np.stack([gv.ravel(), gx.ravel()], axis=-1)
    log_z, mean, cov = _grid_moments(logp, log_w, pts)
    assert log_z == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(mean, [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(np.diag(cov), [9.0, math.exp(4.5)], rtol=1e-5)


# --- Rezende & Mohamed energies ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "box_log_z", "half_width", "num"),
    [
        ("rezende_u1", 1.87750, 5.0, 1001),
        ("rezende_u2", 2.08209, 4.0, 1601),
        ("rezende_u3", 2.64171, 4.0, 1601),
        ("rezende_u4", 2.68457, 4.0, 1601),
    ],
)
def test_rezende_log_z_by_grid_integration(name, box_log_z, half_width, num):
    bundle = get_model(name)
    box = (-half_width, half_width)
    log_z = _grid_2d(bundle, "z", box, box, num, num)[0]
    # U1 has a flat prior on R^2; U2-U4 a Uniform(-4, 4)^2 prior with density 1/64.
    want = box_log_z if name == "rezende_u1" else box_log_z - math.log(64.0)
    assert bundle.reference.log_Z == pytest.approx(want, abs=1e-12)
    assert log_z == pytest.approx(bundle.reference.log_Z, abs=2e-5)  # constants: 5 decimals


def test_rezende_u1_gradient_finite_at_origin():
    bundle = get_model("rezende_u1")

    def neg_log_p(z):
        return -log_density(bundle.model, bundle.args, bundle.kwargs, {"z": z})[0]

    grad = jax.grad(neg_log_p)(jnp.zeros(2))
    assert np.all(np.isfinite(grad))


def test_rezende_energy_rejects_unknown_name():
    from probapprox.models.rezende import energy

    with pytest.raises(ValueError, match="Unknown energy 'u5'"):
        energy("u5", jnp.zeros(2))


def test_mog10d_density_matches_scipy():
    from scipy.stats import multivariate_normal

    bundle = get_model("mog10d")
    w, m, v = bundle.args
    assert w.shape == (5,) and m.shape == (5, 10) and np.isclose(w.sum(), 1.0)
    x = np.random.default_rng(0).normal(size=10)
    ref = np.log(sum(w[k] * multivariate_normal(m[k], np.diag(v[k])).pdf(x) for k in range(5)))
    lp, _ = log_density(bundle.model, bundle.args, bundle.kwargs, {"x": x})
    assert float(lp) == pytest.approx(ref, rel=1e-10)
