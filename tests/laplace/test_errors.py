"""Bad inputs raise ValueError naming the argument (and NotImplementedError where unsupported)."""

import functools

import jax.numpy as jnp
import numpy as np
import pytest

from probapprox.laplace import fit_laplace, mlp_features

features = functools.partial(mlp_features, activation=jnp.tanh)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"curvature": "fisher"}, r"curvature=\.\.\.\) must be one of \('ggn', 'hessian', 'ef'\)"),
        ({"structure": "block"}, r"structure=\.\.\.\) must be one of"),
        ({"subset": "subnetwork"}, r"subset=\.\.\.\) must be one of \('all', 'last_layer'\)"),
        ({"likelihood": "gaussian"}, r"likelihood=\.\.\.\) must be one of"),
        ({"structure": "kron", "curvature": "hessian", "subset": "last_layer"},
         "unsupported with curvature='hessian'"),
        ({"prior_precision": -1.0}, r"prior_precision=\.\.\.\) expects a positive"),
        ({"prior_precision": [1.0, 2.0, 3.0]}, r"prior_precision=\.\.\.\)"),
        ({"batch_size": 0}, r"batch_size=\.\.\.\) expects an integer"),
        ({"structure": "lowrank", "rank": 99}, r"rank=\.\.\.\) must be <="),
        ({"subset": "last_layer"}, r"needs feature_fn"),
        ({"likelihood": "bernoulli"}, "0/1 for likelihood='bernoulli'"),
    ],
)  # fmt: skip
def test_bad_arguments(linear_problem, kwargs, match):
    apply_fn, params, X, y = linear_problem
    with pytest.raises(ValueError, match=match):
        fit_laplace(apply_fn, params, X, y, **kwargs)


def test_bad_data(linear_problem):
    apply_fn, params, X, y = linear_problem
    with pytest.raises(ValueError, match=r"y=\.\.\.\) labels must lie in \[0, 3\)"):
        fit_laplace(apply_fn, params, X, y.at[0].set(3))
    with pytest.raises(ValueError, match=r"y=\.\.\.\) must hold integer labels"):
        fit_laplace(apply_fn, params, X, np.asarray(y) + 0.5)
    with pytest.raises(ValueError, match=r"len\(y\) == len\(X\) = 30"):
        fit_laplace(apply_fn, params, X, y[:-1])
    with pytest.raises(ValueError, match="labels must be >= 0"):
        fit_laplace(apply_fn, params, X, y.at[0].set(-1))
    bad = {"W": params["W"].at[0, 0].set(jnp.inf), "b": params["b"]}
    with pytest.raises(ValueError, match="non-finite logits at the MAP"):
        fit_laplace(apply_fn, bad, X, y)
    with pytest.raises(ValueError, match="one logit per example for .bernoulli."):
        fit_laplace(apply_fn, params, X, (y > 0).astype(int), likelihood="bernoulli")


def test_kron_all_layers_not_implemented(linear_problem):
    apply_fn, params, X, y = linear_problem
    with pytest.raises(NotImplementedError, match=r"needs apply_fn=probapprox.laplace.MLP"):
        fit_laplace(apply_fn, params, X, y, structure="kron")


def test_last_layer_must_reproduce_apply_fn(mlp_problem):
    apply_fn, params, X, y = mlp_problem
    wrong = {"W": params[1]["W"] + 1.0, "b": params[1]["b"]}
    with pytest.raises(ValueError, match="do not reproduce apply_fn"):
        fit_laplace(apply_fn, params, X, y, subset="last_layer", feature_fn=features,
                    last_layer=wrong)  # fmt: skip


def test_optimize_prior_precision_bad_arguments(linear_problem):
    apply_fn, params, X, y = linear_problem
    lap = fit_laplace(apply_fn, params, X, y, structure="diag")
    with pytest.raises(ValueError, match=r"method=\.\.\.\) must be one of \('marglik', 'grid'\)"):
        lap.optimize_prior_precision(method="cv")
    with pytest.raises(ValueError, match=r"structure=\.\.\.\) must be one of"):
        lap.optimize_prior_precision(structure="diag")
    with pytest.raises(ValueError, match="needs X_val"):
        lap.optimize_prior_precision(method="grid")
    with pytest.raises(ValueError, match="supports structure='scalar' only"):
        lap.optimize_prior_precision(method="grid", structure="layerwise", X_val=X, y_val=y)
    with pytest.raises(ValueError, match=r"grid=\.\.\.\) must be a 1-D array of positive"):
        lap.optimize_prior_precision(method="grid", X_val=X, y_val=y, grid=jnp.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"Laplace\.grid_nll\(grid=\.\.\.\) must be a 1-D"):
        lap.grid_nll(X, y, jnp.ones((2, 2)))
