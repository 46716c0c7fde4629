"""KL-optimal (Vecchia) prior columns against dense references, on brute-force patterns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import probapprox.linalg as pl
from tests.linalg.sic_reference import matern32, maximin, pad_rows, rho_sets


def rho_pattern(Xo, ell, rho):
    """S_j = {i <= j: |x_i - x_j| <= rho ell_j} on points already in maximin order."""
    return pad_rows(rho_sets(Xo, ell, rho)[0])


def dense_pattern(n):
    return pad_rows([set(range(j + 1)) for j in range(n)])


@pytest.fixture
def points():
    X = np.random.default_rng(0).uniform(size=(40, 2))
    order, ell = maximin(X)
    return X[order], ell


def theta(X, ell_k, nugget):
    return np.asarray(matern32(X, X, ell_k)) + nugget * np.eye(len(X))


def test_dense_pattern_recovers_inverse(points):
    """Acceptance: with S_j = {0..j}, U U^T = Theta^{-1} (relative error < 1e-8)."""
    X, _ = points
    n = len(X)
    idx = dense_pattern(n)
    kern = lambda a, b: matern32(a, b, 0.2)  # noqa: E731
    for nugget in (1e-2, 1e-4):
        vals = jax.jit(pl.kl_optimal_columns, static_argnums=0)(kern, X, idx, nugget)
        assert bool(jnp.all(pl.finite_columns(vals)))
        U = np.asarray(pl.to_dense(vals, idx, n))
        Th = theta(X, 0.2, nugget)
        cond = np.linalg.cond(Th)
        prec = np.linalg.inv(Th)
        err = np.linalg.norm(U @ U.T - prec) / np.linalg.norm(prec)
        # float64 round-off grows like cond * eps; both cases are far below 1e-8
        assert err < 1e-8, (nugget, cond, err)
        # and the identity U^T Theta U = I holds column by column
        np.testing.assert_allclose(U.T @ Th @ U, np.eye(n), atol=1e-8)


def test_sparse_columns_match_vecchia_formula(points):
    X, ell = points
    n = len(X)
    idx = rho_pattern(X, ell, 1.5)
    nugget = 1e-3
    kern = lambda a, b: matern32(a, b, 0.2)  # noqa: E731
    vals = np.asarray(jax.jit(pl.kl_optimal_columns, static_argnums=0)(kern, X, idx, nugget))
    Th = theta(X, 0.2, nugget)
    assert idx.shape[1] < n // 2  # a genuinely sparse pattern
    for j in range(n):
        s = idx[j][idx[j] >= 0]
        c = s[:-1]
        w = np.linalg.solve(Th[np.ix_(c, c)], Th[c, j]) if len(c) else np.zeros(0)
        d = Th[j, j] - Th[j, c] @ w
        ref = np.concatenate([-w / np.sqrt(d), [1.0 / np.sqrt(d)]])
        npad = idx.shape[1] - len(s)
        np.testing.assert_allclose(vals[j, npad:], ref, rtol=1e-9, atol=1e-12)
        assert np.all(vals[j, :npad] == 0.0)
    # minimal-KL formula vs the dense Gaussian KL(N(0, Theta) || N(0, (U U^T)^{-1}))
    U = np.asarray(pl.to_dense(vals, idx, n))
    P = U @ U.T
    dense_kl = 0.5 * (np.trace(P @ Th) - n - np.linalg.slogdet(P)[1] - np.linalg.slogdet(Th)[1])
    got = float(pl.vecchia_kl_to_exact(vals, Th))
    assert got > 0
    np.testing.assert_allclose(got, dense_kl, rtol=1e-8)


def test_columns_for_and_chunks_match(points):
    X, ell = points
    idx = rho_pattern(X, ell, 2.0)
    kern = lambda a, b: matern32(a, b, 0.3)  # noqa: E731

    @jax.jit
    def all_three(cols):
        return (
            pl.kl_optimal_columns(kern, X, idx, 1e-4),
            pl.kl_optimal_columns(kern, X, idx, 1e-4, batch_size=7),
            pl.columns_for(kern, X, idx, 1e-4, cols),
        )

    cols = jnp.array([3, 0, 39, 17])
    full, chunked, some = all_three(cols)
    np.testing.assert_allclose(chunked, full, rtol=1e-12)
    np.testing.assert_allclose(some, full[cols], rtol=1e-12)


def _lengthscale_fn(points, n):
    X, ell = points
    X, ell = X[:n], ell[:n]
    idx = rho_pattern(X, ell, 2.0)

    def f(log_ell):
        kern = lambda a, b: matern32(a, b, jnp.exp(log_ell))  # noqa: E731
        return pl.kl_optimal_columns(kern, X, idx, 1e-3)

    return jax.jit(f)


def test_grads_wrt_lengthscale(points):
    check_grads(_lengthscale_fn(points, 12), (jnp.log(0.3),), order=1, modes=["fwd", "rev"])


@pytest.mark.slow
def test_second_order_grads_wrt_lengthscale(points):
    check_grads(_lengthscale_fn(points, 12), (jnp.log(0.3),), order=2, modes=["fwd", "rev"])


def test_failure_flag():
    """A non-PD block gives NaN in that column only, and the flag says which."""
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    idx = pad_rows([{0}, {0, 1}, {0, 2}, {2, 3}])
    # variance 1 with nugget -0.9 is PD on the diagonal alone but not on every 2x2 block
    kern = lambda a, b: matern32(a, b, 10.0)  # noqa: E731  (correlations ~0.99)
    vals = jax.jit(lambda nug: pl.kl_optimal_columns(kern, X, idx, nug))(-0.9)
    ok = np.asarray(pl.finite_columns(vals))
    np.testing.assert_array_equal(ok, [True, False, False, False])
    assert np.all(np.isnan(vals[1:]))


def test_bad_inputs(points):
    X, _ = points
    idx = dense_pattern(len(X))
    kern = lambda a, b: matern32(a, b, 0.3)  # noqa: E731
    bad = idx.copy()
    bad[5, -2:] = bad[5, -2:][::-1]
    with pytest.raises(ValueError, match="row 5 ends with 4"):
        pl.kl_optimal_columns(kern, X, bad, 1e-4)
    with pytest.raises(ValueError, match=r"\(n, d\) inputs"):
        pl.kl_optimal_columns(kern, X[:, 0], idx, 1e-4)
    with pytest.raises(ValueError, match=r"\(n, d\) inputs"):
        pl.kl_optimal_columns(kern, X[:-1], idx, 1e-4)
    with pytest.raises(ValueError, match="2-d"):
        pl.kl_optimal_columns(kern, X, idx[0], 1e-4)
    with pytest.raises(ValueError, match=r"must lie in \[0, 40\)"):
        pl.columns_for(kern, X, idx, 1e-4, jnp.array([0, 40]))
    with pytest.raises(ValueError, match="1-d array of column"):
        pl.columns_for(kern, X, idx, 1e-4, jnp.zeros((2, 2), dtype=int))
