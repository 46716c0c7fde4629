"""``PaddedFactor`` against the functional padded API and dense NumPy; the finite-step guard."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_linalg_padded import dense_ref, random_pattern, random_values

import probapprox.linalg as pl
from probapprox.linalg import PaddedFactor, finite_step


@pytest.fixture(scope="module")
def factor():
    idx = random_pattern(12, 0.4, seed=3)
    return PaddedFactor(jnp.asarray(random_values(idx, seed=4)), jnp.asarray(idx))


def test_padded_factor_matches_dense(factor):
    U = dense_ref(np.asarray(factor.values), np.asarray(factor.idx))
    x = np.random.default_rng(0).normal(size=(12, 3))
    np.testing.assert_allclose(factor.to_dense(), U, atol=1e-14)
    np.testing.assert_allclose(factor.matvec(x), U @ x, rtol=1e-12)
    np.testing.assert_allclose(factor.rmatvec(x), U.T @ x, rtol=1e-12)
    np.testing.assert_allclose(factor.solve(x), np.linalg.solve(U, x), rtol=1e-10)
    np.testing.assert_allclose(factor.solve(x, transpose=True), np.linalg.solve(U.T, x), rtol=1e-10)
    np.testing.assert_allclose(factor.diag(), np.diag(U), rtol=1e-14)
    np.testing.assert_allclose(factor.logdet_precision(), np.linalg.slogdet(U @ U.T)[1], rtol=1e-12)


def test_padded_factor_is_a_pytree(factor):
    leaves, treedef = jax.tree.flatten(factor)
    assert len(leaves) == 2
    assert isinstance(jax.tree.unflatten(treedef, leaves), PaddedFactor)
    b = jnp.ones(12)
    out = jax.jit(lambda u, b: u.solve(b, transpose=True))(factor, b)
    np.testing.assert_allclose(out, pl.solve(factor.values, factor.idx, b, transpose=True))
    # the gradient w.r.t. the values flows through the record as through the pair
    g1 = jax.grad(lambda v: jnp.sum(PaddedFactor(v, factor.idx).solve(b) ** 2))(factor.values)
    g2 = jax.grad(lambda v: jnp.sum(pl.solve(v, factor.idx, b) ** 2))(factor.values)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


@pytest.mark.parametrize(
    ("loss", "grads", "ok", "leaf_ok"),
    [
        (1.0, {"a": jnp.ones(3), "b": jnp.zeros(())}, True, [True, True]),
        (jnp.nan, {"a": jnp.ones(3), "b": jnp.zeros(())}, False, [True, True]),
        (jnp.inf, {"a": jnp.ones(3)}, False, [True]),
        (1.0, {"a": jnp.array([1.0, jnp.inf]), "b": jnp.zeros(())}, False, [False, True]),
        (1.0, {"a": jnp.ones(2), "b": jnp.array(jnp.nan)}, False, [True, False]),
        (1.0, {}, True, [True]),  # no parameters: only the loss decides
    ],
)
def test_finite_step(loss, grads, ok, leaf_ok):
    got_ok, got_leaves = jax.jit(finite_step)(jnp.asarray(loss), grads)
    assert bool(got_ok) is ok
    assert np.asarray(got_leaves).tolist() == leaf_ok
