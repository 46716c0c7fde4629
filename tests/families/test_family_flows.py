"""Flow bijections against dense autodiff references (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from jax.test_util import check_grads

from probapprox.families import flows
from probapprox.families.flows._base import student_t_df
from probapprox.families.flows._planar import planar_u_hat
from probapprox.families.flows._radial import radial_alpha_beta
from probapprox.families.flows._spline import spline_forward, spline_inverse

D = 5


def _normal(key, shape):
    """Standard normal draws made on the host (a ``jax.random`` draw compiles per shape)."""
    seed = np.asarray(key).tolist() if not isinstance(key, int) else key
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float64)


def _perturb(params, key, scale=0.5):
    leaves, tree = jax.tree.flatten(params)
    rng = np.random.default_rng(np.asarray(key).tolist())
    noisy = [p + scale * jnp.asarray(rng.standard_normal(p.shape), p.dtype) for p in leaves]
    return jax.tree.unflatten(tree, noisy)


LAYERS = {
    "planar": flows.Planar(D),
    "radial": flows.Radial(D),
    "affine_coupling": flows.AffineCoupling(D, (16, 16)),
    "spline": flows.SplineCoupling(D, (16,), num_bins=6, bound=3.0),
    "spline_1d": flows.SplineCoupling(1, (8,), num_bins=4, bound=3.0),
    "maf": flows.MaskedAffine(D, (16, 16)),
    "maf_spline": flows.MaskedSpline(D, (16,), num_bins=6, bound=3.0),
    "maf_spline_1d": flows.MaskedSpline(1, (8,), num_bins=4, bound=3.0),
    "elementwise_affine": flows.ElementwiseAffine(D),
    "triangular_affine": flows.TriangularAffine(D),
    "permute": flows.Permute((2, 0, 4, 1, 3)),
}


def _layer_and_params(name, seed):
    layer = LAYERS[name]
    k_init, k_noise = jax.random.split(jax.random.PRNGKey(seed))
    return layer, _perturb(layer.init(k_init, jnp.float64), k_noise)


def _points(layer, seed, n=6, scale=2.0):
    return scale * _normal(100 + seed, (n, layer.dim))


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_log_det_matches_dense_jacobian(name, seed):
    layer, params = _layer_and_params(name, seed)
    lds, jacs = _ld_and_jacobian(layer, params, _points(layer, seed))
    for ld, jac in zip(lds, jacs, strict=True):
        sign, ref = np.linalg.slogdet(jac)
        assert sign > 0  # orientation preserving
        np.testing.assert_allclose(ld, ref, atol=1e-5, rtol=0)


def _ld_and_jacobian(layer, params, points):
    """``log|det J|`` and the dense Jacobian at each point, in one compiled program."""

    def one(x):
        return layer.forward(params, x)[1], jax.jacobian(lambda t: layer.forward(params, t)[0])(x)

    return jax.jit(jax.vmap(one))(points)


@pytest.mark.parametrize("cls", [flows.MaskedAffine, flows.MaskedSpline])
def test_made_without_skip_is_an_exact_flow_layer(cls):
    """``skip=False`` (FlowJAX's MAF architecture): no skip weights, exact log det, inverse."""
    layer = cls(D, (16,), skip=False)
    params = _perturb(layer.init(jax.random.PRNGKey(0), jnp.float64), jax.random.PRNGKey(1))
    assert "S" not in jax.tree_util.tree_map(lambda x: 0, params)
    x = _points(layer, 0, n=3)
    lds, jacs = _ld_and_jacobian(layer, params, x)
    np.testing.assert_allclose(lds, np.linalg.slogdet(jacs)[1], atol=1e-5, rtol=0)
    y = jax.vmap(lambda t: layer.forward(params, t)[0])(x)
    np.testing.assert_allclose(
        jax.jit(jax.vmap(lambda u: layer.inverse(params, u)))(y), x, atol=1e-8
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_inverse_round_trip(name, seed):
    layer, params = _layer_and_params(name, seed)
    x = _points(layer, seed)
    back = jax.jit(jax.vmap(lambda t: layer.inverse(params, layer.forward(params, t)[0])))(x)
    np.testing.assert_allclose(back, x, atol=1e-8)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inverse_vjp_is_row_vector_times_inverse_jacobian(name):
    layer, params = _layer_and_params(name, 3)
    v = _normal(7, (layer.dim,))

    def one(x):
        y, _ = layer.forward(params, x)
        jac = jax.jacobian(lambda t: layer.forward(params, t)[0])(x)
        return layer.inverse_vjp(params, x, y, v), jac

    got, jacs = jax.jit(jax.vmap(one))(_points(layer, 3, n=3))
    for g, jac in zip(got, jacs, strict=True):
        np.testing.assert_allclose(g, np.linalg.solve(jac.T, v), atol=1e-9)  # v J^{-1}


@pytest.mark.parametrize("seed", range(5))
def test_invertibility_constraints_hold_for_random_unconstrained_parameters(seed):
    key = jax.random.PRNGKey(seed)
    for scale in (0.1, 3.0, 30.0):
        k1, k2, k3, key = jax.random.split(key, 4)
        p = {
            "u": scale * jax.random.normal(k1, (D,)),
            "w": scale * jax.random.normal(k2, (D,)),
            "b": jnp.zeros(()),
        }
        u_hat, m = planar_u_hat(p)
        assert m > -1.0 and p["w"] @ u_hat > -1.0
        np.testing.assert_allclose(p["w"] @ u_hat, m, atol=1e-9 * scale**2)
        r = {"alpha": scale * jax.random.normal(k3, ()), "beta": -scale * jnp.ones(())}
        alpha, beta = radial_alpha_beta(r)
        assert alpha > 0 and beta > -alpha


@pytest.mark.parametrize(
    "name", ["planar", "radial", "affine_coupling", "spline", "maf", "maf_spline"]
)
def test_fresh_layers_are_near_identity(name):
    layer = LAYERS[name]
    params = layer.init(jax.random.PRNGKey(0), jnp.float64)
    x = _points(layer, 0, n=4)
    y, ld = jax.vmap(lambda t: layer.forward(params, t))(x)
    tol = 0.05 if name == "planar" else 1e-12
    np.testing.assert_allclose(y, x, atol=tol * 10)
    np.testing.assert_allclose(ld, 0.0, atol=tol)


def test_spline_identity_tails_monotone_and_exact_at_knots():
    raw = _normal(0, (7, 3 * 5 - 1))
    x = jnp.array([-9.0, -2.0, -1.0, 0.0, 0.3, 1.999999, 7.0])
    y, logd = spline_forward(raw, x, 2.0)
    assert y[0] == -9.0 and y[-1] == 7.0 and logd[0] == 0.0
    grid = jnp.linspace(-3, 3, 2001)
    yg, _ = spline_forward(jnp.broadcast_to(raw[0], (2001, 14)), grid, 2.0)
    assert jnp.all(jnp.diff(yg) > 0)
    # continuity at the interval's ends (linear tails join with slope 1)
    eps = 1e-7
    for edge in (-2.0, 2.0):
        lo, _ = spline_forward(raw[:2], jnp.array([edge - eps, edge + eps]), 2.0)
        assert abs(lo[1] - lo[0]) < 1e-5
    np.testing.assert_allclose(spline_inverse(raw, y, 2.0), x, atol=1e-9)


FLOW_CASES = [
    ("planar", "normal"),
    ("radial", "normal"),
    ("affine_coupling", "normal"),
    ("spline", "normal"),
    ("spline", "student_t"),
    ("planar", "student_t"),
    ("maf", "normal"),
    ("maf_spline", "normal"),
    ("maf_spline", "student_t"),
]


def _flow_and_params(name, base, seed=0, dim=3, scale=0.3):
    flow = flows.make_flow(name, dim, 3, base=base, hidden_dims=(8,), init_df=5.0)
    k_init, k_noise = jax.random.split(jax.random.PRNGKey(seed))
    return flow, _perturb(flow.init(k_init, jnp.float64), k_noise, scale)


@pytest.mark.parametrize(("name", "base"), FLOW_CASES)
def test_forward_carried_score_equals_autodiff_of_log_prob(name, base):
    flow, params = _flow_and_params(name, base)

    @jax.jit
    def run(key):
        z, log_q, score = flow.sample_with_score(params, key, (4,))
        ref = jax.vmap(jax.grad(lambda t: flow.log_prob(params, t)))(z)
        return (
            z,
            log_q,
            score,
            flow.log_prob(params, z),
            ref,
            flow.sample_and_log_prob(params, key, (4,)),
        )

    z, log_q, score, log_q_inv, ref, (z2, log_q2) = run(jax.random.PRNGKey(1))
    np.testing.assert_allclose(log_q_inv, log_q, atol=1e-8)
    np.testing.assert_allclose(score, ref, atol=1e-7)
    np.testing.assert_allclose(z2, z, atol=1e-12)
    np.testing.assert_allclose(log_q2, log_q, atol=1e-10)


@pytest.mark.parametrize(("name", "base"), FLOW_CASES[:4] + FLOW_CASES[6:8])
def test_flow_density_integrates_to_one_in_2d(name, base):
    flow, params = _flow_and_params(name, base, seed=2, dim=2, scale=0.2)
    # spline layers can make narrow peaks (maf_spline here: density up to ~29, which a
    # 0.04-spaced grid under-integrates by 4 %): a 4x finer grid for them
    grid = jnp.linspace(-16, 16, 3201 if "spline" in name else 801)
    zz = jnp.stack(jnp.meshgrid(grid, grid, indexing="ij"), -1)
    dens = jnp.exp(jax.jit(jax.vmap(lambda row: flow.log_prob(params, row)))(zz))
    mass = jnp.trapezoid(jnp.trapezoid(dens, grid, axis=1), grid)
    np.testing.assert_allclose(mass, 1.0, atol=2e-3)


def test_student_t_base_log_prob_score_and_reparameterised_df():
    base = flows.StudentTBase(3, init_df=4.0)
    params = {"df": jnp.array([-1.0, 0.5, 3.0])}
    nu = student_t_df(params)
    x = jnp.array([[0.3, -2.0, 5.0]])
    ref = scipy.stats.t(np.asarray(nu)).logpdf(np.asarray(x)).sum()
    np.testing.assert_allclose(base.log_prob(params, x), [ref], rtol=1e-10)
    np.testing.assert_allclose(
        base.score(params, x[0]), jax.grad(lambda t: base.log_prob(params, t))(x[0]), atol=1e-12
    )
    grad_df = jax.jit(
        jax.grad(lambda p: base.sample(p, jax.random.PRNGKey(0), (64,), jnp.float64).sum())
    )
    assert jnp.all(jnp.isfinite(grad_df(params)["df"]))


@pytest.mark.parametrize(
    "name", ["planar", "radial", "affine_coupling", "spline", "maf", "maf_spline"]
)
def test_check_grads_of_sample_and_log_prob(name):
    flow, params = _flow_and_params(name, "normal", seed=4, dim=2)

    @jax.jit
    def objective(p):
        z, log_q = flow.sample_and_log_prob(p, jax.random.PRNGKey(3), (3,))
        return jnp.sum(log_q) + jnp.sum(jnp.sin(z))

    # spline flows are C¹: a finite-difference step across a knot sees the jump in the
    # second derivative, so the step stays well inside one bin
    check_grads(objective, (params,), order=1, modes=("rev",), atol=1e-5, rtol=1e-5, eps=1e-5)


def test_made_is_autoregressive_and_the_jacobian_lower_triangular():
    """θ_d depends on x_{<d} only (Germain et al. 2015), for D = 1..6 and two hidden layers."""
    for dim in range(1, 7):
        layer = flows.MaskedSpline(dim, (7, 5), num_bins=3, bound=3.0)
        params = _perturb(layer.init(jax.random.PRNGKey(dim), jnp.float64), jax.random.PRNGKey(9))
        x = _normal(dim + 20, (dim,))
        dtheta = jax.jacobian(lambda t, p=params, ly=layer: ly._theta(p, t))(x)  # (D, P, D)
        dep = np.asarray(jnp.abs(dtheta).max(axis=1) > 0)
        assert not np.any(np.triu(dep)), dep  # no dependence on x_j, j >= d
        if dim > 1:  # and the masks do not cut more than they must
            assert np.all(np.tril(dep, -1)[np.tril_indices(dim, -1)]), dep
        jac = jax.jacobian(lambda t, p=params, ly=layer: ly.forward(p, t)[0])(x)
        np.testing.assert_allclose(np.triu(jac, 1), 0.0, atol=0)


def test_made_skip_is_strictly_lower_and_exactly_linear():
    """The linear skip: θ_d = MLP_d(x_{<d}) + Σ_{j<d} x_j S_{jd}, zero at init, and a layer
    whose MLP output is zero gives an affine map with log-scale linear in its parents (a
    funnel's conditional x_i | v ~ N(0, e^v), exact at any range)."""
    dim = 4
    layer = flows.MaskedAffine(dim, (6,), scale_bound=1e6)
    params = layer.init(jax.random.PRNGKey(0), jnp.float64)
    assert params["S"].shape == (dim, 2 * dim)
    np.testing.assert_array_equal(params["S"], 0.0)
    assert "S" not in flows.MaskedAffine(dim, (6,), skip=False).init(jax.random.PRNGKey(0), float)
    s_raw = _normal(1, (dim, 2 * dim))
    params = dict(params, S=s_raw)
    x = 5.0 * _normal(2, (dim,))  # far out
    theta = np.asarray(layer._theta(params, x))  # (D, 2): the MLP part is zero
    s_np, x_np = np.asarray(s_raw).reshape(dim, dim, 2), np.asarray(x)
    lower = np.arange(dim)[:, None] < np.arange(dim)[None, :]  # j < d
    want = np.einsum("j,jd,jdp->dp", x_np, lower, s_np)
    assert np.all(want[0] == 0.0) and np.all(np.abs(want[1:]) > 0)
    np.testing.assert_allclose(theta, want, rtol=1e-12)
    y, ld = layer.forward(params, x)
    log_scale = layer.scale_bound * np.tanh(theta[:, 0] / layer.scale_bound)
    np.testing.assert_allclose(y, x_np * np.exp(log_scale) + theta[:, 1], rtol=1e-10)
    np.testing.assert_allclose(ld, log_scale.sum(), rtol=1e-10)
    # perturbed skip and MLP together: the Jacobian stays lower triangular, log det exact
    full = _perturb(dict(params), jax.random.PRNGKey(3))
    ld, jac = _ld_and_jacobian(layer, full, x[None])
    jac = np.asarray(jac[0])
    np.testing.assert_allclose(np.triu(jac, 1), 0.0, atol=0)
    np.testing.assert_allclose(ld[0], np.log(np.diag(jac)).sum(), rtol=1e-10)


@pytest.mark.parametrize("name", ["maf", "maf_spline"])
def test_autoregressive_flows_run_in_the_latent_order(name):
    """The last layer is lower triangular in the latent's own order (parents first); the
    layer before it upper triangular (the reversal), so two layers order every pair both ways."""
    dim = 5
    for num_layers, lower in ((1, True), (2, False)):
        flow = flows.make_flow(name, dim, num_layers, hidden_dims=(8,))
        params = _perturb(flow.init(jax.random.PRNGKey(0), jnp.float64), jax.random.PRNGKey(1))
        x = _normal(2, (dim,))
        jac = np.asarray(jax.jit(jax.jacobian(lambda t, f=flow, p=params: f.forward(p, t)[0]))(x))
        if lower:
            np.testing.assert_allclose(np.triu(jac, 1), 0.0, atol=0)
            assert np.all(np.abs(np.tril(jac, -1))[np.tril_indices(dim, -1)] > 0)
        else:  # full: the first layer's dependences are reversed, the affine mixes them down
            assert np.all(np.abs(jac) > 0)


@pytest.mark.parametrize("name", ["maf", "maf_spline"])
def test_check_grads_of_the_autoregressive_transformers(name):
    layer, params = _layer_and_params(name, 3)
    x = _points(layer, 3, n=1, scale=1.5)[0]

    def f(p, t):
        y, ld = layer.forward(p, t)
        return jnp.sum(jnp.sin(y)) + ld

    # a rational-quadratic spline is C¹ with second derivatives that jump at the knots: the
    # finite-difference step must stay well inside a bin (default 1e-4 straddled one)
    check_grads(f, (params, x), order=2, modes=("rev", "fwd"), atol=1e-5, rtol=1e-5, eps=1e-5)


def test_make_flow_bad_input():
    with pytest.raises(ValueError, match="planar.*radial.*affine_coupling.*spline.*maf"):
        flows.make_flow("glow", 2, 2)
    with pytest.raises(ValueError, match="num_layers"):
        flows.make_flow("planar", 2, 0)
    with pytest.raises(ValueError, match="base"):
        flows.make_flow("planar", 2, 2, base="cauchy")
    with pytest.raises(ValueError, match="init_df"):
        flows.make_flow("planar", 2, 2, base="student_t", init_df=0.5)
