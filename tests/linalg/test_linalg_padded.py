"""Padded sparse triangular ops against dense NumPy, on brute-force patterns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import probapprox.linalg as pl
from probapprox.linalg._pattern import check_pattern, check_subset


def pad_rows(sets):
    """Padded (n, w) index array from a list of index sets (j must be in sets[j])."""
    width = max(len(s) for s in sets)
    idx = np.full((len(sets), width), -1, dtype=np.int32)
    for j, s in enumerate(sets):
        row = sorted(s)
        assert row[-1] == j
        idx[j, width - len(row) :] = row
    return idx


def random_pattern(n, p, seed):
    """S_j = {j} plus each i < j with probability p."""
    rng = np.random.default_rng(seed)
    return pad_rows([{j} | {i for i in range(j) if rng.random() < p} for j in range(n)])


def random_values(idx, seed):
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=idx.shape) * 0.3
    vals[:, -1] = rng.uniform(0.8, 1.6, size=idx.shape[0])
    return np.where(idx >= 0, vals, 0.0)


def dense_ref(values, idx):
    n = idx.shape[0]
    U = np.zeros((n, n))
    for j in range(n):
        for k in range(idx.shape[1]):
            if idx[j, k] >= 0:
                U[idx[j, k], j] = values[j, k]
    return U


@pytest.fixture
def factor():
    idx = random_pattern(25, 0.3, seed=1)
    vals = random_values(idx, seed=2)
    return vals, idx, dense_ref(vals, idx)


def test_to_dense_diag_logdet(factor):
    vals, idx, U = factor
    np.testing.assert_array_equal(pl.to_dense(vals, idx, 25), U)
    assert np.allclose(np.triu(U), U)
    np.testing.assert_allclose(pl.diag(vals), np.diag(U), rtol=0, atol=0)
    sign, ref = np.linalg.slogdet(U @ U.T)
    assert sign > 0
    np.testing.assert_allclose(pl.logdet_precision(vals), ref, rtol=1e-12)


def test_padded_slots_ignored(factor):
    vals, idx, U = factor
    junk = np.where(idx >= 0, vals, 7.0)  # garbage in padded slots must not leak
    x = np.random.default_rng(3).normal(size=25)
    np.testing.assert_allclose(pl.to_dense(junk, idx, 25), U, atol=0)
    np.testing.assert_allclose(pl.matvec(junk, idx, x), U @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pl.rmatvec(junk, idx, x), U.T @ x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [None, 3])
def test_matvec_rmatvec_solve(factor, k):
    vals, idx, U = factor
    shape = (25,) if k is None else (25, k)
    x = np.random.default_rng(4).normal(size=shape)
    np.testing.assert_allclose(pl.matvec(vals, idx, x), U @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pl.rmatvec(vals, idx, x), U.T @ x, rtol=1e-12, atol=1e-12)
    z = pl.solve(vals, idx, x)
    np.testing.assert_allclose(z, np.linalg.solve(U, x), rtol=1e-10, atol=1e-10)
    zt = pl.solve(vals, idx, x, transpose=True)
    np.testing.assert_allclose(zt, np.linalg.solve(U.T, x), rtol=1e-10, atol=1e-10)


def test_ops_under_jit(factor):
    vals, idx, U = factor
    x = np.random.default_rng(5).normal(size=25)
    f = jax.jit(lambda v, i, b: pl.solve(v, i, b, transpose=True))
    np.testing.assert_allclose(f(vals, idx, x), np.linalg.solve(U.T, x), rtol=1e-10)
    g = jax.jit(pl.matvec)
    np.testing.assert_allclose(g(vals, idx, x), U @ x, rtol=1e-12)


def test_solve_grads():
    idx = random_pattern(8, 0.5, seed=11)
    vals = random_values(idx, seed=12)
    b = np.random.default_rng(6).normal(size=8)
    f = jax.jit(
        lambda v: jnp.concatenate([pl.solve(v, idx, b), pl.solve(v, idx, b, transpose=True)])
    )
    check_grads(f, (vals,), order=1, modes=["fwd", "rev"])


def test_local_block_and_solve(factor):
    vals, idx, U = factor
    rng = np.random.default_rng(7)
    width = 12
    anc_rows = []
    for j in range(25):
        pick = sorted({j} | set(rng.choice(j + 1, size=min(j + 1, 8), replace=False).tolist()))
        anc_rows.append([-1] * (width - len(pick)) + pick)
    anc = np.array(anc_rows, dtype=np.int32)
    rhs = np.where(anc >= 0, rng.normal(size=anc.shape), 0.0)

    @jax.jit
    def run(anc, rhs):
        blocks = jax.vmap(lambda r: pl.local_block(vals, idx, r))(anc)
        sol = {
            t: jax.vmap(lambda a, r, t=t: pl.solve_local(vals, idx, a, r, transpose=t))(anc, rhs)
            for t in (False, True)
        }
        return blocks, sol

    blocks, got = run(anc, rhs)
    for j in range(25):
        rows = anc[j][anc[j] >= 0]
        npad = width - len(rows)
        ref = np.eye(width)
        ref[npad:, npad:] = U[np.ix_(rows, rows)]
        np.testing.assert_array_equal(blocks[j], ref)
        for t in (False, True):
            sub = ref.T if t else ref
            np.testing.assert_allclose(got[t][j], np.linalg.solve(sub, rhs[j]), rtol=1e-10)
            assert np.all(got[t][j][:npad] == 0)


def test_bad_inputs(factor):
    vals, idx, _ = factor
    with pytest.raises(ValueError, match="same shape"):
        pl.matvec(vals[:, 1:], idx, np.zeros(25))
    with pytest.raises(ValueError, match=r"expects shape \(n,\)"):
        pl.rmatvec(vals, idx, np.zeros(24))
    bad = idx.copy()
    bad[3] = bad[3][::-1]  # descending: j no longer last
    with pytest.raises(ValueError, match="must end with j itself"):
        pl.solve(vals, bad, np.zeros(25))
    mid = np.array([[-1, -1, 0], [-1, 0, 1], [0, -1, 2]], dtype=np.int32)
    with pytest.raises(ValueError, match="padding"):
        check_pattern("f", "idx", mid)
    rep = np.array([[-1, -1, 0], [-1, 0, 1], [1, 1, 2]], dtype=np.int32)
    with pytest.raises(ValueError, match="strictly ascending"):
        check_pattern("f", "idx", rep)
    with pytest.raises(TypeError, match="integer"):
        check_pattern("f", "idx", idx.astype(float))
    with pytest.raises(ValueError, match="1-d rows"):
        pl.local_block(vals, idx, idx[:2])
    sub = jnp.asarray(idx)[:, -1:]  # S_j = {j} is missing the off-diagonals of idx
    with pytest.raises(ValueError, match="lacks pattern entry"):
        check_subset("f", idx, sub)
