"""KFAC, low-rank and the logits pushforward against dense references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.linalg import block_diag as scipy_block_diag

from probapprox.laplace import MLP, fit_laplace, mlp_features

features = functools.partial(mlp_features, activation=jnp.tanh)


def dense_logit_cov(lap, apply_fn, params, X):
    """J Sigma J^T with J from jax.jacobian of apply_fn and Sigma = inv(dense precision)."""
    return _dense_logit_cov(apply_fn, params, X, lap.posterior_precision())


@functools.partial(jax.jit, static_argnums=0)
def _dense_logit_cov(apply_fn, params, X, precision):
    theta, unravel = ravel_pytree(params)
    jac = jax.jacobian(lambda t: apply_fn(unravel(t), X))(theta)
    sigma = jnp.linalg.inv(precision)
    return jnp.einsum("ncp,pq,ndq->ncd", jac, sigma, jac)


def last_layer_apply(params_ll, X, params):
    return features(params, X) @ params_ll["W"] + params_ll["b"]


def test_kfac_equals_exact_last_layer_ggn_for_one_example(mlp_problem):
    apply_fn, params, X, y = mlp_problem
    kw = {"subset": "last_layer", "feature_fn": features, "prior_precision": 0.5}
    kron = fit_laplace(apply_fn, params, X[:1], y[:1], structure="kron", **kw)
    full = fit_laplace(apply_fn, params, X[:1], y[:1], structure="full", **kw)
    np.testing.assert_allclose(kron.posterior_precision(), full.posterior_precision(),
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    # exact last-layer GGN = sum_n phi~ phi~^T (x) Lambda_n (parameters ravelled as [W; b])
    phi = np.concatenate([np.asarray(features(params, X[:1])), np.ones((1, 1))], axis=1)[0]
    p = np.asarray(jax.nn.softmax(apply_fn(params, X[:1])[0]))
    ref = np.kron(np.outer(phi, phi), np.diag(p) - np.outer(p, p)) + 0.5 * np.eye(15)
    np.testing.assert_allclose(kron.posterior_precision(), ref, rtol=1e-10, atol=1e-12)
    # empirical Fisher: phi~ phi~^T (x) r r^T with r = softmax - onehot, also exact for N = 1
    kron_ef = fit_laplace(apply_fn, params, X[:1], y[:1], structure="kron", curvature="ef", **kw)
    full_ef = fit_laplace(apply_fn, params, X[:1], y[:1], structure="full", curvature="ef", **kw)
    np.testing.assert_allclose(kron_ef.posterior_precision(), full_ef.posterior_precision(),
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    r = p - np.eye(3)[int(y[0])]
    ref_ef = np.kron(np.outer(phi, phi), np.outer(r, r)) + 0.5 * np.eye(15)
    np.testing.assert_allclose(kron_ef.posterior_precision(), ref_ef, rtol=1e-10, atol=1e-12)
    # with N > 1 KFAC is an approximation: (sum phi phi^T) (x) mean(Lambda)
    kron_n = fit_laplace(apply_fn, params, X, y, structure="kron", **kw)
    full_n = fit_laplace(apply_fn, params, X, y, structure="full", **kw)
    assert not np.allclose(kron_n.posterior_precision(), full_n.posterior_precision(), rtol=1e-3)
    phis = np.concatenate([np.asarray(features(params, X)), np.ones((25, 1))], axis=1)
    ps = np.asarray(jax.nn.softmax(apply_fn(params, X)))
    lam = np.mean([np.diag(q) - np.outer(q, q) for q in ps], axis=0)
    ref_n = np.kron(phis.T @ phis, lam) + 0.5 * np.eye(15)
    np.testing.assert_allclose(kron_n.posterior_precision(), ref_n, rtol=1e-10, atol=1e-12)
    # closed-form last-layer logits covariance vs dense J Sigma J^T
    _, cov = kron_n.logits(X[:5])
    ll = kron_n.params_map
    ref_cov = dense_logit_cov(kron_n, lambda q, x: last_layer_apply(q, x, params), ll, X[:5])
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(kron_n.posterior_covariance(),
                               np.linalg.inv(ref_n), rtol=1e-8, atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("curvature", ["ggn", "hessian"])
def test_lowrank_full_rank_equals_full(linear_problem, curvature):
    apply_fn, params, X, y = linear_problem
    full = fit_laplace(apply_fn, params, X, y, curvature=curvature, prior_precision=0.7)
    low = fit_laplace(apply_fn, params, X, y, curvature=curvature, structure="lowrank", rank=12,
                      prior_precision=0.7)  # fmt: skip
    np.testing.assert_allclose(low.posterior_covariance(), full.posterior_covariance(),
                               rtol=1e-8, atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(low.log_marginal_likelihood(), full.log_marginal_likelihood(),
                               rtol=1e-10)  # fmt: skip
    deltas = jnp.asarray([0.3, 2.0])  # layerwise: ['W'], ['b']
    np.testing.assert_allclose(low.log_marginal_likelihood(deltas),
                               full.log_marginal_likelihood(deltas), rtol=1e-10)  # fmt: skip
    lw_low, lw_full = low.with_prior_precision(deltas), full.with_prior_precision(deltas)
    np.testing.assert_allclose(lw_low.posterior_covariance(), lw_full.posterior_covariance(),
                               rtol=1e-8, atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(lw_low.logits(X[:4])[1], lw_full.logits(X[:4])[1], rtol=1e-8,
                               atol=1e-10)  # fmt: skip


@pytest.mark.parametrize(
    ("structure", "subset", "prior"),
    [
        ("full", "all", 0.5),  # one shared delta: through the eigendecomposition of G
        ("full", "all", [0.5, 2.0, 1.0, 3.0]),  # per leaf: through the Cholesky factor
        ("diag", "all", 0.5),
        ("lowrank", "all", 0.5),
        ("full", "last_layer", [0.5, 2.0]),
        ("full", "last_layer", 0.5),  # eigendecomposition and the last-layer J Q shortcut
        ("diag", "last_layer", [0.5, 2.0]),  # diagonal J Sigma J^T, no Jacobian formed
        ("lowrank", "last_layer", 0.5),
        ("kron", "last_layer", 0.5),
    ],
)
def test_logits_cov_equals_dense_jacobian_pushforward(mlp_problem, structure, subset, prior):
    apply_fn, params, X, y = mlp_problem
    kw = {"feature_fn": features} if subset == "last_layer" else {}
    lap = fit_laplace(apply_fn, params, X, y, structure=structure, subset=subset,
                      prior_precision=prior, batch_size=10, rank=6, **kw)  # fmt: skip
    mean, cov = lap.logits(X[:7], batch_size=3)
    if subset == "all":
        ref = dense_logit_cov(lap, apply_fn, params, X[:7])
    else:
        fn = functools.partial(last_layer_apply, params=params)
        ref = dense_logit_cov(lap, fn, lap.params_map, X[:7])
    np.testing.assert_allclose(mean, apply_fn(params, X[:7]), rtol=1e-12)
    np.testing.assert_allclose(cov, ref, rtol=1e-8, atol=1e-12)
    assert cov.shape == (7, 3, 3)


@pytest.mark.parametrize("structure", ["full", "diag", "lowrank", "kron"])
def test_samples_have_posterior_moments(mlp_problem, structure):
    apply_fn, params, X, y = mlp_problem
    lap = fit_laplace(apply_fn, params, X, y, structure=structure, subset="last_layer",
                      feature_fn=features, rank=8, prior_precision=2.0)  # fmt: skip
    draws = lap.sample(jax.random.PRNGKey(1), 20000)
    assert draws["W"].shape == (20000, 4, 3) and draws["b"].shape == (20000, 3)
    flat = jax.vmap(lambda d: ravel_pytree(d)[0])(draws)
    sigma = np.linalg.inv(lap.posterior_precision())
    np.testing.assert_allclose(np.mean(flat, axis=0), lap.model.theta, atol=4 * np.sqrt(
        np.max(np.diag(sigma)) / 20000))  # fmt: skip
    np.testing.assert_allclose(np.cov(flat.T), sigma, atol=0.05 * np.max(np.diag(sigma)))
    # the structure's square root is exact: S S^T = inv(precision)
    np.testing.assert_allclose(lap.posterior_covariance(), sigma, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("curvature", ["ggn"])
def test_kfac_all_layers_of_mlp(mlp_problem, curvature):
    _, params, X, y = mlp_problem
    net = MLP(jnp.tanh)
    # one example: every KFAC block equals the exact GGN / EF diagonal block
    kron1 = fit_laplace(net, params, X[:1], y[:1], curvature=curvature, structure="kron",
                        prior_precision=[0.5, 2.0])  # fmt: skip
    full1 = fit_laplace(net, params, X[:1], y[:1], curvature=curvature, prior_precision=1.0)
    sizes = [np.size(lay["W"]) + np.size(lay["b"]) for lay in params]
    g_full = np.asarray(full1.posterior_precision()) - np.eye(sum(sizes))
    mask = scipy_block_diag(*[np.ones((s, s)) for s in sizes])
    dvec = np.repeat([0.5, 2.0], sizes)
    np.testing.assert_allclose(kron1.posterior_precision(), g_full * mask + np.diag(dvec),
                               rtol=1e-9, atol=1e-12)  # fmt: skip
    assert kron1.group_names == ("[0]", "[1]")
    # many examples: the last block equals the last-layer KFAC (an independent code path)
    kron = fit_laplace(net, params, X, y, curvature=curvature, structure="kron", batch_size=10)
    last = fit_laplace(net, params, X, y, curvature=curvature, structure="kron",
                       subset="last_layer", feature_fn=net.features)  # fmt: skip
    np.testing.assert_allclose(kron.posterior_precision()[sizes[0]:, sizes[0]:],
                               last.posterior_precision(), rtol=1e-9, atol=1e-12)  # fmt: skip
    _, cov = kron.logits(X[:4])
    np.testing.assert_allclose(cov, dense_logit_cov(kron, net, params, X[:4]), rtol=1e-8,
                               atol=1e-12)  # fmt: skip
    lml = kron.log_marginal_likelihood(jnp.asarray([0.7, 3.0]))
    ref = -kron.nll_map - 0.5 * (
        np.linalg.slogdet(kron.curv.precision(jnp.asarray(np.repeat([0.7, 3.0], sizes))))[1]
        - np.sum(np.log(np.repeat([0.7, 3.0], sizes)))
        + np.sum(np.repeat([0.7, 3.0], sizes) * np.asarray(kron.model.theta) ** 2)
    )
    np.testing.assert_allclose(lml, ref, rtol=1e-10)


@pytest.mark.parametrize(
    ("structure", "prior"),
    [("full", 2.0), ("full", [0.5, 2.0, 1.0, 3.0]), ("diag", 2.0), ("kron", [0.5, 2.0])],
)
def test_all_weight_samples_have_posterior_moments(mlp_problem, structure, prior):
    """Weight draws of every layer (the ``nn`` predictive's input) have mean θ* and Σ."""
    _, params, X, y = mlp_problem
    lap = fit_laplace(MLP(jnp.tanh), params, X, y, structure=structure, prior_precision=prior)
    n = 40000
    flat = jax.vmap(lambda d: ravel_pytree(d)[0])(lap.sample(jax.random.PRNGKey(2), n))
    sigma = np.linalg.inv(lap.posterior_precision())
    sd = np.sqrt(np.diag(sigma))
    np.testing.assert_array_less(
        np.abs(np.mean(flat, axis=0) - lap.model.theta), 4.5 * sd / np.sqrt(n)
    )
    corr = np.asarray(np.cov(flat.T)) / np.outer(sd, sd)
    np.testing.assert_allclose(corr, sigma / np.outer(sd, sd), atol=4.5 * np.sqrt(2.0 / n) + 0.01)
    np.testing.assert_allclose(lap.posterior_covariance(), sigma, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("subset", ["last_layer", "all"])
def test_kfac_separate_bias_blocks(mlp_problem, subset):
    """kron_bias='separate': weight block A_W ⊗ B, bias block N·B, no weight-bias coupling."""
    _, params, X, y = mlp_problem
    net = MLP(jnp.tanh)
    kw = {"structure": "kron", "subset": subset, "prior_precision": 0.5, "batch_size": 10}
    if subset == "last_layer":
        kw["feature_fn"] = net.features
    joint = fit_laplace(net, params, X, y, **kw)
    sep = fit_laplace(net, params, X, y, kron_bias="separate", **kw)
    pj, ps = np.asarray(joint.posterior_precision()), np.asarray(sep.posterior_precision())
    layers = params[-1:] if subset == "last_layer" else params
    start = 0
    for layer in layers:
        nw, nb = np.size(layer["W"]), np.size(layer["b"])
        w, b = slice(start, start + nw), slice(start + nw, start + nw + nb)
        np.testing.assert_allclose(ps[w, w], pj[w, w], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ps[b, b], pj[b, b], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(ps[w, b], 0.0)
        assert np.abs(pj[w, b]).max() > 1e-3  # the joint factor does couple them
        start += nw + nb
    np.testing.assert_allclose(ps[:start, start:], 0.0)
    # the exact last-layer GGN bias block is sum_n Lambda_n = N * mean(Lambda)
    if subset == "last_layer":
        ps_ = np.asarray(jax.nn.softmax(net(params, X)))
        lam = np.sum([np.diag(q) - np.outer(q, q) for q in ps_], axis=0)
        np.testing.assert_allclose(ps[b, b], lam + 0.5 * np.eye(nb), rtol=1e-10, atol=1e-12)
    # every structure-specific path agrees with the dense precision
    _, cov = sep.logits(X[:4])
    if subset == "all":
        ref = dense_logit_cov(sep, net, params, X[:4])
    else:
        ll = sep.params_map
        ref = dense_logit_cov(sep, lambda q, x: net.features(params, x) @ q["W"] + q["b"], ll,
                              X[:4])  # fmt: skip
    np.testing.assert_allclose(cov, ref, rtol=1e-8, atol=1e-12)
    lml = sep.log_marginal_likelihood(jnp.asarray(0.7))
    p = ps.shape[0]
    ref_lml = -sep.nll_map - 0.5 * (
        np.linalg.slogdet(ps - 0.5 * np.eye(p) + 0.7 * np.eye(p))[1]
        - p * np.log(0.7)
        + 0.7 * np.sum(np.asarray(sep.model.theta) ** 2)
    )
    np.testing.assert_allclose(lml, ref_lml, rtol=1e-10)
    with pytest.raises(ValueError, match="kron_bias"):
        fit_laplace(net, params, X, y, kron_bias="split", **kw)
