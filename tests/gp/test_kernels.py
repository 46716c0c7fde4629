"""Kernels: explicit numpy formulas, PSD Gram matrices, ARD, gradients, pytrees, errors."""

import copy
import math
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from probapprox.gp import RBF, Kernel, Likelihood, Matern12, Matern32, Matern52

KERNELS = [Matern12, Matern32, Matern52, RBF]
IDS = [k.__name__ for k in KERNELS]


def numpy_kernel(cls, X1, X2, lengthscale, variance):
    """Double loop over the R&W (2006) formulas, in numpy float64."""
    ls = np.broadcast_to(np.asarray(lengthscale, float), (X1.shape[1],))
    out = np.empty((X1.shape[0], X2.shape[0]))
    for i in range(X1.shape[0]):
        for j in range(X2.shape[0]):
            r = math.sqrt(sum(((X1[i, k] - X2[j, k]) / ls[k]) ** 2 for k in range(len(ls))))
            if cls is Matern12:
                g = math.exp(-r)
            elif cls is Matern32:
                g = (1 + math.sqrt(3) * r) * math.exp(-math.sqrt(3) * r)
            elif cls is Matern52:
                g = (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)
            else:
                g = math.exp(-0.5 * r * r)
            out[i, j] = variance * g
    return out


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)), rng.normal(size=(5, 3)), np.array([0.5, 1.3, 2.0])


@pytest.mark.parametrize("cls", KERNELS, ids=IDS)
def test_matches_numpy_formula(cls, data):
    X1, X2, ls = data
    kern = cls(lengthscale=ls, variance=1.7)
    np.testing.assert_allclose(kern(X1, X2), numpy_kernel(cls, X1, X2, ls, 1.7), rtol=1e-12)
    iso = cls(lengthscale=0.8, variance=0.4)
    np.testing.assert_allclose(iso(X1, X2), numpy_kernel(cls, X1, X2, 0.8, 0.4), rtol=1e-12)
    assert kern(X1, X2).dtype == jnp.float64


@pytest.mark.parametrize("cls", KERNELS, ids=IDS)
def test_known_values_and_diag(cls, data):
    X1, _, ls = data
    kern = cls(lengthscale=ls, variance=2.5)
    K = kern(X1, X1)
    np.testing.assert_array_equal(np.diag(K), np.full(6, 2.5))  # exact at r = 0
    np.testing.assert_array_equal(kern.diag(X1), np.full(6, 2.5))
    np.testing.assert_allclose(K, K.T, rtol=1e-14)
    # r = 1 at unit lengthscale: exp(-1), 2(1+√3)e^{-√3}/2 ...
    one = cls()(jnp.zeros((1, 1)), jnp.ones((1, 1)))[0, 0]
    expect = {
        Matern12: math.exp(-1),
        Matern32: (1 + math.sqrt(3)) * math.exp(-math.sqrt(3)),
        Matern52: (1 + math.sqrt(5) + 5 / 3) * math.exp(-math.sqrt(5)),
        RBF: math.exp(-0.5),
    }[cls]
    assert float(one) == pytest.approx(expect, rel=1e-14)


@pytest.mark.parametrize("cls", KERNELS, ids=IDS)
def test_gram_is_psd(cls):
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(80, 3))
    X[10] = X[11]  # a duplicate point: K stays PSD (singular)
    kern = cls(lengthscale=np.array([0.2, 0.5, 1.0]), variance=1.3)
    eig = np.linalg.eigvalsh(np.asarray(kern(X, X)))
    assert eig.min() >= -1e-10


@pytest.mark.parametrize("cls", KERNELS, ids=IDS)
def test_ard_scaling(cls, data):
    X1, X2, ls = data
    kern = cls(lengthscale=ls, variance=0.9)
    unit = cls(lengthscale=1.0, variance=0.9)
    np.testing.assert_allclose(kern.scaled(X1), X1 / ls, rtol=1e-15)
    np.testing.assert_allclose(kern(X1, X2), unit(X1 / ls, X2 / ls), rtol=1e-12)
    # scalar lengthscale = ARD with equal entries; stretching a column by ℓ_k is invisible
    np.testing.assert_allclose(
        cls(lengthscale=0.7)(X1, X2), cls(lengthscale=np.full(3, 0.7))(X1, X2), rtol=1e-14
    )
    stretch = np.array([1.0, 3.0, 1.0])
    np.testing.assert_allclose(
        cls(lengthscale=ls * stretch, variance=0.9)(X1 * stretch, X2 * stretch),
        kern(X1, X2),
        rtol=1e-12,
    )
    # ℓ_k only acts through column k: with column 2 constant, ℓ_2 is irrelevant
    bigger = cls(lengthscale=ls * np.array([1.0, 1.0, 5.0]), variance=0.9)
    Y1, Y2 = X1.copy(), X2.copy()
    Y1[:, 2] = Y2[:, 2] = 0.0
    np.testing.assert_allclose(bigger(Y1, Y2), kern(Y1, Y2), rtol=1e-14)


def test_one_dimensional_inputs():
    x = np.linspace(0, 1, 4)
    kern = Matern32(lengthscale=0.3)
    np.testing.assert_allclose(kern(x, x), kern(x[:, None], x[:, None]), rtol=0)
    assert kern.diag(x).shape == (4,)


@pytest.mark.parametrize("cls", KERNELS, ids=IDS)
def test_grad_finite_at_zero_distance(cls):
    X = jnp.array([[0.3, -0.2], [0.3, -0.2], [1.0, 0.5]])  # rows 0 and 1 coincide
    kern = cls(lengthscale=jnp.array([0.5, 2.0]), variance=1.5)

    @jax.jit
    def grads(k, x):
        return {
            "x": jax.grad(lambda z: jnp.sum(k(z, x)))(x),
            "x_same": jax.grad(lambda z: k(z, z)[0, 0])(x[:1]),
            "kernel": jax.grad(lambda kk: jnp.sum(kk(x, x)))(k),
            "diag": jax.grad(lambda kk: kk(x[:1], x[:1])[0, 0])(k),
        }

    g = grads(kern, X)
    for leaf in jax.tree_util.tree_leaves(g):
        assert np.all(np.isfinite(np.asarray(leaf)))
    # k(x, x) = σ² does not depend on x or ℓ; d/dσ² = 1
    np.testing.assert_array_equal(g["x_same"], 0.0)
    np.testing.assert_array_equal(g["diag"].lengthscale, 0.0)
    assert float(g["diag"].variance) == 1.0


@pytest.mark.parametrize("cls", KERNELS, ids=IDS)
def test_check_grads_params_and_inputs(cls, data):
    X1, X2, ls = data

    @jax.jit
    def gram(u, x1):
        return cls.from_unconstrained(u)(x1, X2)

    u = cls(lengthscale=ls, variance=1.3).to_unconstrained()
    check_grads(gram, (u, jnp.asarray(X1)), order=1, modes=("rev",))


@pytest.mark.parametrize("cls", KERNELS, ids=IDS)
def test_pytree_and_unconstrained(cls, data):
    X1, X2, ls = data
    kern = cls(lengthscale=ls, variance=0.6)
    leaves = jax.tree_util.tree_leaves(kern)
    assert len(leaves) == 2
    np.testing.assert_array_equal(leaves[0], ls)
    u = kern.to_unconstrained()
    assert set(u) == {"log_lengthscale", "log_variance"}
    np.testing.assert_allclose(u["log_variance"], math.log(0.6), rtol=1e-15)
    back = cls.from_unconstrained(u)
    assert type(back) is cls
    np.testing.assert_allclose(back(X1, X2), kern(X1, X2), rtol=1e-13)
    jitted = jax.jit(lambda uu, a, b: kern.from_unconstrained(uu)(a, b))(u, X1, X2)
    np.testing.assert_allclose(jitted, kern(X1, X2), rtol=1e-13)
    # a kernel passes through jit as an argument, and vmaps over a batch of kernels
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a]), kern)
    batch = jax.vmap(lambda k: k(X1, X2))(stacked)
    np.testing.assert_allclose(batch[1], cls(2 * ls, 1.2)(X1, X2), rtol=1e-13)
    assert kern.params["variance"] == 0.6
    with pytest.raises(AttributeError, match="frozen"):
        kern.variance = 1.0
    for twin in (pickle.loads(pickle.dumps(kern)), copy.deepcopy(kern)):
        assert type(twin) is cls
        np.testing.assert_array_equal(twin(X1, X2), kern(X1, X2))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (
            {"lengthscale": 0.0},
            ValueError,
            r"Matern32\(lengthscale=...\) expects finite values > 0",
        ),
        ({"lengthscale": -1.0}, ValueError, r"lengthscale=\.\.\.\) expects finite"),
        ({"lengthscale": [1.0, np.nan]}, ValueError, r"lengthscale=\.\.\.\) expects finite"),
        ({"variance": np.inf}, ValueError, r"variance=\.\.\.\) expects finite"),
        ({"variance": -2.0}, ValueError, r"variance=\.\.\.\) expects finite"),
        ({"variance": [1.0, 2.0]}, ValueError, r"variance=\.\.\.\) expects a positive number"),
        ({"lengthscale": np.ones((2, 2))}, ValueError, r"lengthscale=\.\.\.\).*1-D array"),
        ({"lengthscale": []}, ValueError, r"lengthscale=\.\.\.\).*shape \(0,\)"),
        ({"lengthscale": "1"}, TypeError, r"lengthscale=\.\.\.\) expects a positive number"),
        ({"variance": None}, TypeError, r"variance=\.\.\.\) expects a positive number"),
        ({"variance": True}, TypeError, r"variance=\.\.\.\) expects a positive number"),
    ],
)
def test_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Matern32(**kwargs)


def test_bad_inputs():
    kern = RBF(lengthscale=np.ones(3))
    with pytest.raises(ValueError, match=r"RBF: X1 has d = 2 columns but the ARD lengthscale"):
        kern(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"X must have shape \(n, d\) or \(n,\)"):
        kern.diag(np.zeros((2, 2, 3)))
    iso = RBF()
    with pytest.raises(ValueError, match="X1 has 2 columns but X2 has 3"):
        iso(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"expects keys \['log_lengthscale', 'log_variance'\]"):
        RBF.from_unconstrained({"lengthscale": 1.0, "variance": 1.0})
    with pytest.raises(TypeError, match="expects a dict as returned by to_unconstrained"):
        RBF.from_unconstrained((0.0, 0.0))


def test_base_classes_are_abstract():
    with pytest.raises(TypeError, match="Kernel is abstract; use Matern12"):
        Kernel()
    with pytest.raises(TypeError, match="Likelihood is abstract; use Gaussian"):
        Likelihood()
