"""build_pattern / Pattern, input errors, and a slow large-n check against chunked brute force."""

import ast
from pathlib import Path

import numpy as np
import pytest
from ordering_reference import bdist

import probapprox.ordering
from probapprox.ordering import (
    Pattern,
    ancestor_sets,
    build_pattern,
    knn_pattern,
    maximin_order,
    rho_pattern,
)
from probapprox.ordering._ancestors import pattern_ancestor_sets
from probapprox.ordering._maximin import maximin_order_after


def test_build_pattern_rho_equals_the_pieces_and_stats():
    X = np.random.default_rng(0).random((300, 2))
    ls = np.array([0.5, 1.5])
    pat = build_pattern(X, lengthscale=ls, rho=1.5, max_num_ancestor=12)
    perm, ell = maximin_order(X, lengthscale=ls)
    xo = X[perm]
    np.testing.assert_array_equal(pat.perm, perm)
    np.testing.assert_array_equal(pat.ell, ell)
    np.testing.assert_array_equal(pat.idx, rho_pattern(xo, ell, 1.5, lengthscale=ls))
    np.testing.assert_array_equal(
        pat.anc, ancestor_sets(xo, ell, 1.5, lengthscale=ls, max_num_ancestor=12)
    )
    assert isinstance(pat, Pattern) and pat.rho == 1.5 and pat.num_neighbors is None
    assert pat.n == 300
    assert pat.nnz == np.count_nonzero(pat.idx >= 0)
    assert pat.mean_neighbors == pat.nnz / 300
    assert pat.max_neighbors == pat.idx.shape[1] == (pat.idx >= 0).sum(axis=1).max()
    assert pat.mean_ancestors == np.count_nonzero(pat.anc >= 0) / 300
    assert pat.max_ancestors == pat.anc.shape[1]
    assert pat.mean_ancestors >= pat.mean_neighbors
    with pytest.raises(AttributeError):
        pat.rho = 3.0  # frozen


def test_build_pattern_knn():
    X = np.random.default_rng(1).random((200, 3))
    pat = build_pattern(X, num_neighbors=6)
    xo = X[pat.perm]
    np.testing.assert_array_equal(pat.idx, knn_pattern(xo, 6))
    np.testing.assert_array_equal(pat.anc, pattern_ancestor_sets(xo, pat.idx))
    assert pat.rho is None and pat.num_neighbors == 6 and pat.max_neighbors == 6
    assert pat.nnz == 200 * 6 - sum(range(1, 6))  # rows j < 5 hold j + 1 points


def test_duplicates_do_not_crash():
    X = np.random.default_rng(2).random((50, 2))
    X = np.concatenate([X, X[:10], X[:3]])
    pat = build_pattern(X, rho=2.0)
    assert np.sum(pat.ell == 0) == 13
    pat_knn = build_pattern(X, num_neighbors=4)
    assert pat_knn.idx.shape == (63, 4)


BAD_X = [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), ValueError, "NaN or inf"),
    (np.array([[0.0, np.inf], [1.0, 2.0]]), ValueError, r"X=\.\.\.\) contains NaN"),
    (np.zeros(5), ValueError, "2-D"),
    (np.zeros((2, 2, 2)), ValueError, "2-D"),
    (np.zeros((0, 2)), ValueError, "at least one point"),
    (np.array([["a", "b"]]), TypeError, "real numbers"),
    (np.ones((3, 2), dtype=bool), TypeError, "real numbers"),
]


@pytest.mark.parametrize(("X", "exc", "match"), BAD_X)
def test_bad_X(X, exc, match):
    with pytest.raises(exc, match=match):
        maximin_order(X)
    with pytest.raises(exc, match=match):
        build_pattern(X)


@pytest.mark.parametrize(
    ("ls", "match"),
    [
        (0.0, "positive"),
        (-1.0, "positive"),
        (np.array([1.0, np.nan]), "positive"),
        (np.ones(3), "one entry per column"),
        (np.ones((2, 1)), "one entry per column"),
    ],
)
def test_bad_lengthscale(ls, match):
    X = np.random.default_rng(0).random((10, 2))
    with pytest.raises(ValueError, match=match):
        maximin_order(X, lengthscale=ls)
    with pytest.raises(ValueError, match=match):
        build_pattern(X, lengthscale=ls)
    with pytest.raises(ValueError, match=match):
        rho_pattern(X, np.ones(10), 2.0, lengthscale=ls)


def test_bad_rho_neighbors_ell_and_shapes():
    X = np.random.default_rng(0).random((10, 2))
    ell = np.ones(10)
    for rho in (0.0, -1.0, np.nan, np.inf, "2"):
        with pytest.raises(ValueError, match=r"rho=\.\.\."):
            rho_pattern(X, ell, rho)
        with pytest.raises(ValueError, match=r"rho=\.\.\."):
            ancestor_sets(X, ell, rho)
        with pytest.raises(ValueError, match=r"rho=\.\.\."):
            build_pattern(X, rho=rho)
    for m in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match=r"num_neighbors=\.\.\."):
            knn_pattern(X, m)
        with pytest.raises(ValueError, match=r"num_neighbors=\.\.\."):
            build_pattern(X, num_neighbors=m)
    with pytest.raises(ValueError, match=r"max_neighbors=\.\.\."):
        rho_pattern(X, ell, 2.0, max_neighbors=0)
    with pytest.raises(ValueError, match=r"max_num_ancestor=\.\.\."):
        ancestor_sets(X, ell, 2.0, max_num_ancestor=0)
    with pytest.raises(ValueError, match=r"ell=\.\.\.\) must have shape \(10,\)"):
        rho_pattern(X, np.ones(9), 2.0)
    with pytest.raises(ValueError, match="non-negative"):
        ancestor_sets(X, -ell, 2.0)
    with pytest.raises(ValueError, match="non-negative"):
        rho_pattern(X, np.full(10, np.nan), 2.0)
    with pytest.raises(ValueError, match="same number of columns"):
        maximin_order_after(X, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"X_new=\.\.\.\) contains NaN"):
        maximin_order_after(X, np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="padded format"):
        pattern_ancestor_sets(X, np.zeros((10, 2), dtype=np.int32))
    idx = knn_pattern(X, 3)
    for hops in (0, None, 1.5):
        with pytest.raises(ValueError, match=r"hops=\.\.\."):
            pattern_ancestor_sets(X, idx, hops=hops)
    with pytest.raises(ValueError, match=r"idx=\.\.\.\) must be an integer array"):
        pattern_ancestor_sets(X, idx[:5])


def test_ordering_layer_has_no_jax_or_numpyro_imports():
    """probapprox.ordering sits at the bottom layer (NumPy + scipy only)."""
    root = Path(probapprox.ordering.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        assert not [m for m in names if m.split(".")[0] in ("jax", "numpyro")], path


def _chunked_brute_maximin(X, chunk=4096):
    """O(n^2) greedy with the distance update done in row chunks (same rounding)."""
    n = len(X)
    first = int(np.argmin(bdist(X, X.mean(axis=0))))
    d = bdist(X, X[first])
    d[first] = -1.0
    perm, ell = [first], [0.0]
    for _ in range(n - 1):
        p = int(np.argmax(d))
        perm.append(p)
        ell.append(d[p])
        for lo in range(0, n, chunk):
            sl = slice(lo, lo + chunk)
            d[sl] = np.where(d[sl] < 0, d[sl], np.minimum(d[sl], bdist(X[sl], X[p])))
        d[p] = -1.0
    ell[0] = ell[1]
    return np.array(perm), np.array(ell)


@pytest.mark.slow
def test_large_n_against_chunked_brute_force():
    X = np.random.default_rng(5).random((20_000, 2))
    perm, ell = maximin_order(X)
    perm_b, ell_b = _chunked_brute_maximin(X)
    np.testing.assert_array_equal(perm, perm_b)
    np.testing.assert_array_equal(ell, ell_b)
    xo = X[perm]
    idx = rho_pattern(xo, ell, 2.0)
    for j in np.random.default_rng(0).choice(20_000, 300, replace=False):
        expect = np.flatnonzero(bdist(xo[: j + 1], xo[j]) <= 2.0 * ell[j])
        np.testing.assert_array_equal(idx[j][idx[j] >= 0], expect)
