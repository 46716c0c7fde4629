"""Curvatures against dense references: GGN = Hessian for canonical links, diag = diag(full)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import nll_total
from jax.flatten_util import ravel_pytree

from probapprox.laplace import MLP, fit_laplace


@functools.partial(jax.jit, static_argnums=0)
def dense_ggn_ef(apply_fn, params, X, y):
    theta, unravel = ravel_pytree(params)
    z = apply_fn(params, X)
    jac = jax.jacobian(lambda t: apply_fn(unravel(t), X))(theta)  # (N, C, P)
    p = jax.nn.softmax(z, axis=-1)
    lam = jax.vmap(jnp.diag)(p) - p[:, :, None] * p[:, None, :]
    ggn = jnp.einsum("ncp,ncd,ndq->pq", jac, lam, jac)
    g = jnp.einsum("nc,ncp->np", p - jax.nn.one_hot(y, z.shape[1]), jac)
    return ggn, g.T @ g


@functools.partial(jax.jit, static_argnums=0)
def dense_hessian(apply_fn, params, X, y):
    theta, unravel = ravel_pytree(params)
    return jax.hessian(lambda t: nll_total(apply_fn, unravel(t), X, y))(theta)


@pytest.mark.parametrize("structure", ["full", "diag"])
def test_ggn_equals_hessian_for_linear_softmax(linear_problem, structure):
    apply_fn, params, X, y = linear_problem
    ggn = fit_laplace(apply_fn, params, X, y, curvature="ggn", structure=structure)
    hes = fit_laplace(apply_fn, params, X, y, curvature="hessian", structure=structure)
    ref = dense_hessian(apply_fn, params, X, y) + jnp.eye(12)
    ref = ref if structure == "full" else jnp.diag(jnp.diag(ref))
    np.testing.assert_allclose(ggn.posterior_precision(), ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(hes.posterior_precision(), ref, rtol=1e-10, atol=1e-10)
    assert hes.num_clipped == 0


@pytest.mark.parametrize("curvature", ["ggn", "ef"])
def test_full_curvature_matches_dense_reference(mlp_problem, curvature):
    apply_fn, params, X, y = mlp_problem
    ggn, ef = dense_ggn_ef(apply_fn, params, X, y)
    ref = (ggn if curvature == "ggn" else ef) + 2.0 * jnp.eye(ggn.shape[0])
    lap = fit_laplace(apply_fn, params, X, y, curvature=curvature, prior_precision=2.0,
                      batch_size=7)  # fmt: skip
    np.testing.assert_allclose(lap.posterior_precision(), ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("curvature", ["ggn", "ef", "hessian"])
def test_diag_equals_diagonal_of_full(mlp_problem, linear_problem, curvature):
    apply_fn, params, X, y = linear_problem if curvature == "hessian" else mlp_problem
    full = fit_laplace(apply_fn, params, X, y, curvature=curvature, batch_size=8)
    diag = fit_laplace(apply_fn, params, X, y, curvature=curvature, structure="diag", batch_size=8)
    np.testing.assert_allclose(
        jnp.diag(diag.posterior_precision()), jnp.diag(full.posterior_precision()), rtol=1e-10
    )
    np.testing.assert_allclose(
        diag.posterior_covariance(), jnp.diag(1.0 / (diag.curv.diag + 1.0)), rtol=1e-12
    )


def test_diag_hessian_of_mlp_matches_dense_diagonal(mlp_problem):
    apply_fn, params, X, y = mlp_problem
    ref = jnp.diag(dense_hessian(apply_fn, params, X, y))
    n_neg = int(jnp.sum(ref < 0))
    if n_neg:
        with pytest.warns(UserWarning, match=f"clipped {n_neg} negative"):
            lap = fit_laplace(apply_fn, params, X, y, curvature="hessian", structure="diag")
    else:
        lap = fit_laplace(apply_fn, params, X, y, curvature="hessian", structure="diag")
    np.testing.assert_allclose(lap.curv.diag, jnp.maximum(ref, 0.0), rtol=1e-9, atol=1e-12)
    assert lap.num_clipped == n_neg


def test_hessian_indefinite_is_clipped_with_warning(mlp_problem):
    apply_fn, params, X, y = mlp_problem
    evals = jnp.linalg.eigvalsh(dense_hessian(apply_fn, params, X, y))
    n_neg = int(jnp.sum(evals < -1e-10))
    assert n_neg > 0  # the random MLP point is not a MAP: the Hessian is indefinite
    with pytest.warns(UserWarning, match=f"clipped {n_neg} negative eigenvalue"):
        lap = fit_laplace(apply_fn, params, X, y, curvature="hessian", prior_precision=1e-3)
    assert lap.num_clipped == n_neg
    prec = lap.posterior_precision()
    assert float(jnp.min(jnp.linalg.eigvalsh(prec))) >= 1e-3 * (1 - 1e-8)
    assert bool(jnp.all(jnp.isfinite(lap.posterior_covariance())))
    mean, cov = lap.logits(X)
    assert bool(jnp.all(jnp.isfinite(cov))) and bool(jnp.isfinite(lap.log_marginal_likelihood()))
    # the clipped curvature keeps the non-negative spectrum of the Hessian
    np.testing.assert_allclose(lap.curv.evals, jnp.maximum(evals, 0.0), atol=1e-9)


def test_singular_hessian_is_not_warned(linear_problem):
    apply_fn, params, X, y = linear_problem
    X = jnp.concatenate([X, X[:, :1]], axis=1)  # duplicated feature: singular Hessian
    params = {"W": jnp.concatenate([params["W"], params["W"][:1]]), "b": params["b"]}
    lap = fit_laplace(apply_fn, params, X, y, curvature="hessian", prior_precision=1e-2)
    assert lap.num_clipped == 0
    assert float(jnp.min(jnp.linalg.eigvalsh(lap.posterior_precision()))) > 0.0
    assert bool(jnp.all(jnp.isfinite(lap.posterior_covariance())))


@pytest.mark.parametrize("curvature", ["ggn", "ef"])
@pytest.mark.parametrize("structure", ["full", "diag"])
@pytest.mark.parametrize("likelihood", ["categorical", "bernoulli"])
def test_last_layer_kronecker_sum_equals_generic_jacobian_path(
    mlp_problem, curvature, structure, likelihood
):
    """Σ φ̃φ̃ᵀ ⊗ Λ_n (last layer) equals the per-example-Jacobian curvature of φ W + b."""
    _, params, X, y = mlp_problem
    if likelihood == "bernoulli":
        params = [params[0], {"W": params[1]["W"][:, :1], "b": params[1]["b"][:1]}]
        y = y % 2
    net = MLP(jnp.tanh)
    phi = net.features(params, X)
    kw = {"likelihood": likelihood, "curvature": curvature, "structure": structure,
          "batch_size": 7, "prior_precision": 0.3}  # fmt: skip
    last = fit_laplace(net, params, X, y, subset="last_layer", feature_fn=net.features, **kw)
    generic = fit_laplace(lambda q, f: f @ q["W"] + q["b"], params[-1], phi, y, **kw)
    np.testing.assert_allclose(last.posterior_precision(), generic.posterior_precision(),
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(last.nll_map, generic.nll_map, rtol=1e-12)
