"""Bayesian logistic regression (breast cancer): posterior and marglik vs dense numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.optimize import minimize_scalar

from probapprox.laplace import fit_laplace
from probapprox.models.logistic import load_breast_cancer


def apply_fn(params, X):
    return X @ params["w"] + params["b"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def reference():
    """Numpy Newton to the MAP under N(0, I), the NLL Hessian and a dense log-marglik."""
    X, y, _ = load_breast_cancer()
    X, y = X[:200], y[:200]
    xa = np.concatenate([np.ones((X.shape[0], 1)), X], axis=1)  # ravel order: b, then w
    theta = np.zeros(xa.shape[1])
    for _ in range(50):
        p = _sigmoid(xa @ theta)
        grad = xa.T @ (p - y) + theta
        hess = xa.T @ (xa * (p * (1 - p))[:, None]) + np.eye(xa.shape[1])
        theta = theta - np.linalg.solve(hess, grad)
    z = xa @ theta
    p = _sigmoid(z)
    h_nll = xa.T @ (xa * (p * (1 - p))[:, None])
    nll = float(np.sum(np.logaddexp(0.0, z) - y * z))

    def logml(deltas):  # deltas: per parameter
        deltas = np.broadcast_to(deltas, theta.shape)
        logdet = np.linalg.slogdet(h_nll + np.diag(deltas))[1]
        return -nll - 0.5 * (logdet - np.sum(np.log(deltas)) + np.sum(deltas * theta**2))

    params = {"w": jnp.asarray(theta[1:]), "b": jnp.asarray(theta[0])}
    lap = fit_laplace(apply_fn, params, X, y, likelihood="bernoulli", batch_size=64)
    return {"X": X, "y": y, "xa": xa, "theta": theta, "h": h_nll, "logml": logml, "lap": lap}


def test_posterior_matches_dense_newton_reference(reference):
    lap, h = reference["lap"], reference["h"]
    eye = np.eye(h.shape[0])
    np.testing.assert_allclose(lap.model.theta, reference["theta"], rtol=1e-12)
    np.testing.assert_allclose(lap.posterior_precision(), h + eye, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lap.posterior_covariance(), np.linalg.inv(h + eye), rtol=1e-8,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(lap.log_marginal_likelihood(), reference["logml"](1.0), rtol=1e-10)


def test_marglik_scalar_optimum_is_stationary_point_of_reference(reference):
    lap, logml = reference["lap"], reference["logml"]
    opt = lap.optimize_prior_precision(method="marglik", structure="scalar")
    delta = float(opt.prior_precision[0])
    assert bool(jnp.all(opt.prior_precision == delta))
    res = minimize_scalar(lambda t: -logml(np.exp(t)), bounds=(-8, 8), method="bounded",
                          options={"xatol": 1e-10})  # fmt: skip
    np.testing.assert_allclose(delta, np.exp(res.x), rtol=1e-4)
    eps = 1e-4
    t = np.log(delta)
    fd = (logml(np.exp(t + eps)) - logml(np.exp(t - eps))) / (2 * eps)
    assert abs(fd) < 1e-6
    np.testing.assert_allclose(opt.log_marginal_likelihood(), logml(delta), rtol=1e-10)
    assert float(lap.prior_precision[0]) == 1.0  # immutable: the original is unchanged


def test_marglik_layerwise_optimum_is_stationary(reference):
    lap, logml = reference["lap"], reference["logml"]
    assert lap.group_names == ("['b']", "['w']")
    opt = lap.optimize_prior_precision(method="marglik", structure="layerwise")
    d_b, d_w = (float(v) for v in opt.prior_precision)
    eps = 1e-4
    for k in range(2):
        step = np.zeros(2)
        step[k] = eps
        vals = []
        for sgn in (1, -1):
            lb, lw = np.log([d_b, d_w]) + sgn * step
            vals.append(logml(np.concatenate([[np.exp(lb)], np.full(30, np.exp(lw))])))
        assert abs((vals[0] - vals[1]) / (2 * eps)) < 1e-5
    scalar = lap.optimize_prior_precision(method="marglik").log_marginal_likelihood()
    assert float(opt.log_marginal_likelihood()) >= float(scalar) - 1e-9


@pytest.mark.parametrize("structure", ["full", "diag", "kron", "lowrank"])
def test_check_grads_marglik_in_log_delta(reference, structure):
    X, y = reference["X"][:40], reference["y"][:40]
    params = {"w": jnp.asarray(reference["theta"][1:]), "b": jnp.asarray(reference["theta"][0])}
    if structure == "kron":
        ll = {"W": params["w"][:, None], "b": params["b"][None]}
        lap = fit_laplace(apply_fn, params, X, y, likelihood="bernoulli", structure="kron",
                          subset="last_layer", feature_fn=lambda p, x: x,
                          last_layer=ll)  # fmt: skip
    else:
        lap = fit_laplace(apply_fn, params, X, y, likelihood="bernoulli", structure=structure,
                          rank=5)  # fmt: skip
    fn = jax.jit(lambda t: lap.log_marginal_likelihood(jnp.exp(t)))
    if structure in ("full", "lowrank"):  # layerwise: the Cholesky / determinant-lemma paths
        check_grads(fn, (jnp.asarray([0.3, -0.2]),), order=1, modes=("rev",))
    if structure != "lowrank":  # scalar: eigenvalue / elementwise / Kronecker-eigenvalue paths
        check_grads(fn, (jnp.asarray(0.3),), order=1, modes=("fwd", "rev"))


def test_grid_search_picks_reference_argmin(reference):
    lap, xa, y = reference["lap"], reference["xa"], reference["y"]
    X_val, y_val = load_breast_cancer()[0][200:300], load_breast_cancer()[1][200:300]
    grid = jnp.logspace(-2, 3, 11)
    opt = lap.optimize_prior_precision(method="grid", X_val=X_val, y_val=y_val, grid=grid)
    xv = np.concatenate([np.ones((100, 1)), X_val], axis=1)
    losses = []
    for d in np.asarray(grid):
        cov = np.linalg.inv(reference["h"] + d * np.eye(xa.shape[1]))
        mu, var = xv @ reference["theta"], np.einsum("np,pq,nq->n", xv, cov, xv)
        z = mu / np.sqrt(1 + np.pi / 8 * var)
        losses.append(np.sum(np.logaddexp(0.0, z) - y_val * z))
    assert float(opt.prior_precision[0]) == pytest.approx(float(grid[int(np.argmin(losses))]))
    del y


def test_logits_bernoulli_match_dense(reference):
    lap, xa = reference["lap"], reference["xa"]
    mean, cov = lap.logits(reference["X"][:10])
    sigma = np.linalg.inv(reference["h"] + np.eye(xa.shape[1]))
    np.testing.assert_allclose(mean[:, 0], xa[:10] @ reference["theta"], rtol=1e-10)
    ref = np.einsum("np,pq,nq->n", xa[:10], sigma, xa[:10])
    np.testing.assert_allclose(cov[:, 0, 0], ref, rtol=1e-8)
    assert jax.numpy.shape(cov) == (10, 1, 1)
