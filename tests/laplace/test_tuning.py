"""Prior-precision tuning: the one-pass grid against dense references; no recompiles on refits."""

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from probapprox.laplace import MLP, fit_laplace, mlp_features

features = functools.partial(mlp_features, activation=jnp.tanh)
NET = MLP(jnp.tanh)
GRID = jnp.logspace(-3, 3, 9)


def dense_grid_nll(lap, apply_fn, params, X, y, grid):
    """Σ_n −log softmax_y(μ/√(1 + π/8 diag(J Σ_δ Jᵀ))) with Σ_δ = inv(dense precision)."""
    theta, unravel = ravel_pytree(params)
    jac = np.asarray(jax.jacobian(lambda t: apply_fn(unravel(t), X))(theta))  # (N, C, P)
    mean = np.asarray(apply_fn(params, X))
    out = []
    for d in np.asarray(grid):
        sigma = np.linalg.inv(np.asarray(lap.with_prior_precision(d).posterior_precision()))
        var = np.einsum("ncp,pq,ncq->nc", jac, sigma, jac)
        z = mean / np.sqrt(1.0 + np.pi / 8 * var)
        logp = z - np.log(np.sum(np.exp(z - z.max(1, keepdims=True)), 1, keepdims=True))
        logp -= z.max(1, keepdims=True)
        out.append(-np.sum(logp[np.arange(len(y)), np.asarray(y)]))
    return np.asarray(out)


@pytest.mark.parametrize(
    ("structure", "subset"),
    [
        ("full", "all"),
        ("full", "last_layer"),
        ("diag", "all"),
        ("diag", "last_layer"),
        ("lowrank", "all"),
        ("lowrank", "last_layer"),
        ("kron", "all"),
        ("kron", "last_layer"),
    ],
)
def test_grid_nll_equals_dense_direct_computation(mlp_problem, structure, subset):
    """Every δ of the decomposition-based grid equals the dense J inv(G + δI) Jᵀ NLL (1e-8)."""
    _, params, X, y = mlp_problem
    X_val, y_val = X[:11] * 1.3, y[:11]
    kw = {"feature_fn": features} if subset == "last_layer" else {}
    lap = fit_laplace(NET, params, X[11:], y[11:], structure=structure, subset=subset,
                      rank=7, batch_size=4, **kw)  # fmt: skip
    got = np.asarray(lap.grid_nll(X_val, y_val, GRID))
    if subset == "all":
        ref = dense_grid_nll(lap, NET, params, X_val, y_val, GRID)
    else:
        phi = features(params, X_val)
        ref = dense_grid_nll(lap, lambda q, x: x @ q["W"] + q["b"], lap.params_map, phi,
                             y_val, GRID)  # fmt: skip
    np.testing.assert_allclose(got, ref, rtol=1e-8)
    # the chosen δ is the argmin of those losses
    opt = lap.optimize_prior_precision("grid", X_val=X_val, y_val=y_val, grid=GRID)
    assert float(opt.prior_precision[0]) == float(GRID[int(np.argmin(ref))])
    np.testing.assert_array_equal(opt.prior_precision, opt.prior_precision[0])


@contextlib.contextmanager
def count_compiles():
    """Count XLA backend compilations inside the block."""
    events = []

    def listen(event, duration, **_):
        del duration
        if event.endswith("backend_compile_duration"):
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


@pytest.mark.parametrize(("structure", "subset"), [("kron", "all"), ("full", "last_layer"),
                                                   ("diag", "all")])  # fmt: skip
def test_refit_of_same_shapes_does_not_recompile(mlp_problem, structure, subset):
    _, params, X, y = mlp_problem
    kw = {"feature_fn": features} if subset == "last_layer" else {}

    def run(scale):
        p = jax.tree_util.tree_map(lambda a: a * scale, params)
        lap = fit_laplace(NET, p, X, y, structure=structure, subset=subset, **kw)
        a = lap.optimize_prior_precision("marglik")
        b = lap.optimize_prior_precision("marglik", structure="layerwise")
        c = lap.optimize_prior_precision("grid", X_val=X[:9], y_val=y[:9], grid=GRID)
        jax.block_until_ready((a.prior_precision, b.prior_precision, c.prior_precision))
        return a.logits(X[:9]), c.logits(X[:9])

    run(1.0)  # compiles
    with count_compiles() as events:
        out = run(0.9)  # other values, same shapes
        jax.block_until_ready(out)
    assert events == []
