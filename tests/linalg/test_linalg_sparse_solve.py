"""The O(a m) local solve against the dense block solve, and its custom VJP."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.linalg import solve_triangular
from jax.test_util import check_grads
from test_linalg_padded import dense_ref, random_pattern, random_values

import probapprox.linalg as pl


def ancestor_rows(n, width, seed):
    """Random ascending index rows with j last; some miss entries of S_j (dropped there)."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n):
        pick = sorted({j} | set(rng.choice(j + 1, size=min(j + 1, width - 3), replace=False)))
        rows.append([-1] * (width - len(pick)) + pick)
    return np.array(rows, dtype=np.int32)


@pytest.fixture
def problem():
    idx = random_pattern(30, 0.3, seed=3)
    vals = random_values(idx, seed=4)
    anc = ancestor_rows(30, 14, seed=5)
    rng = np.random.default_rng(6)
    rhs = np.where((anc >= 0)[..., None], rng.normal(size=(*anc.shape, 2)), 0.0)
    return vals, idx, anc, rhs


def gathered(vals, idx, anc_j):
    safe = jnp.where(anc_j >= 0, anc_j, 0)
    # padded slots read a garbage column: the solve must ignore it
    col_val = jnp.where((anc_j >= 0)[:, None], jnp.asarray(vals)[safe], 7.0)
    return col_val, jnp.asarray(idx)[safe]


def test_solve_columns_equals_dense_block_solve(problem):
    vals, idx, anc, rhs = problem
    U = dense_ref(vals, idx)

    @jax.jit
    def run(anc, rhs):
        def one(a, r):
            cv, ci = gathered(vals, idx, a)
            dense = solve_triangular(pl.local_block_rows(cv, ci, a), r, lower=False)
            return pl.solve_columns(cv, ci, a, r), dense, pl.solve_columns(cv, ci, a, r[:, 0])

        return jax.vmap(one)(anc, rhs)

    got, dense, vec = run(anc, rhs)
    np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vec, got[..., 0], rtol=1e-14)
    for j in range(anc.shape[0]):  # independent NumPy reference on U[A, A]
        keep = anc[j] >= 0
        rows = anc[j][keep]
        ref = np.linalg.solve(U[np.ix_(rows, rows)], rhs[j][keep])
        np.testing.assert_allclose(got[j][keep], ref, rtol=1e-10, atol=1e-12)
        assert np.all(got[j][~keep] == 0)


def test_solve_columns_gradients(problem):
    vals, idx, anc, rhs = problem
    cols = [3, 17, 29]

    def f(v, r):
        def one(a, rr):
            cv, ci = gathered(v, idx, a)
            return pl.solve_columns(cv, ci, a, rr)

        return jax.vmap(one)(anc[cols], r)

    check_grads(f, (jnp.asarray(vals), jnp.asarray(rhs[cols])), order=1, modes=["rev"])

    def dense(v, r):
        def one(a, rr):
            cv, ci = gathered(v, idx, a)
            return solve_triangular(pl.local_block_rows(cv, ci, a), rr, lower=False)

        return jax.vmap(one)(anc[cols], r)

    w = np.random.default_rng(9).normal(size=rhs[cols].shape)
    grads = [
        jax.grad(lambda v, r, g=g: jnp.sum(w * g(v, r) ** 2), argnums=(0, 1))(
            jnp.asarray(vals), jnp.asarray(rhs[cols])
        )
        for g in (f, dense)
    ]
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
