"""rho_pattern / knn_pattern / ancestor sets against brute force, and the padded format."""

import numpy as np
import pytest
from ordering_reference import brute_anc, brute_hops, brute_knn, brute_maximin, brute_rho, padded

from probapprox.ordering import (
    ancestor_sets,
    knn_pattern,
    maximin_order,
    rho_pattern,
)
from probapprox.ordering._ancestors import pattern_ancestor_sets


def _ordered(kind, n, d, seed, ls=None):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        X = rng.random((n, d))
    else:  # integer grid: exact distance ties and duplicates
        X = rng.integers(0, 7, size=(n, d)).astype(float)
    perm, ell = maximin_order(X, lengthscale=ls)
    return X[perm], ell


def check_padded(idx, n):
    """The shared format: int32 (n, w), rows ascending, j last, -1 padding in front only."""
    assert idx.dtype == np.int32 and idx.ndim == 2 and idx.shape[0] == n
    np.testing.assert_array_equal(idx[:, -1], np.arange(n))
    valid = idx >= 0
    assert np.all(idx[~valid] == -1)
    assert np.all(valid[:, 1:] >= valid[:, :-1])  # once valid, stays valid (front padding)
    v = np.where(valid, idx, -1)
    assert np.all(np.diff(v, axis=1)[valid[:, :-1]] > 0)  # strictly ascending among members
    assert np.all(idx <= np.arange(n)[:, None])  # upper triangular: i <= j


def rows_as_sets(idx):
    return [set(r[r >= 0].tolist()) for r in idx]


def contains(big, small):
    return all(s <= b for s, b in zip(rows_as_sets(small), rows_as_sets(big), strict=True))


CASES = [
    ("uniform", 80, 1, None),
    ("uniform", 250, 2, None),
    ("uniform", 250, 2, "ard"),
    ("grid", 250, 2, None),
    ("uniform", 200, 3, "ard"),
    ("grid", 150, 3, "ard"),
]


def _ls(ls, d):
    return None if ls is None else np.linspace(0.4, 1.7, d)


@pytest.mark.parametrize(("kind", "n", "d", "ls"), CASES)
@pytest.mark.parametrize("rho", [1.0, 1.7])
def test_rho_pattern_and_ancestors_match_brute_force(kind, n, d, ls, rho):
    xo, ell = _ordered(kind, n, d, seed=n + d, ls=_ls(ls, d))
    idx = rho_pattern(xo, ell, rho, lengthscale=_ls(ls, d))
    check_padded(idx, n)
    np.testing.assert_array_equal(idx, padded(brute_rho(xo, ell, rho, _ls(ls, d))))
    anc = ancestor_sets(xo, ell, rho, lengthscale=_ls(ls, d))
    check_padded(anc, n)
    np.testing.assert_array_equal(anc, padded(brute_anc(xo, ell, rho, _ls(ls, d))))
    assert contains(anc, idx)


@pytest.mark.parametrize(("kind", "n", "d", "ls"), CASES[:4])
@pytest.mark.parametrize("cap", [1, 4])
def test_caps_match_brute_force(kind, n, d, ls, cap):
    rho = 2.0
    xo, ell = _ordered(kind, n, d, seed=3, ls=_ls(ls, d))
    idx = rho_pattern(xo, ell, rho, lengthscale=_ls(ls, d), max_neighbors=cap)
    check_padded(idx, n)
    assert idx.shape[1] <= cap
    np.testing.assert_array_equal(idx, padded(brute_rho(xo, ell, rho, _ls(ls, d), cap)))
    anc = ancestor_sets(xo, ell, rho, lengthscale=_ls(ls, d), max_num_ancestor=3 * cap)
    check_padded(anc, n)
    np.testing.assert_array_equal(anc, padded(brute_anc(xo, ell, rho, _ls(ls, d), 3 * cap)))
    full = rho_pattern(xo, ell, rho, lengthscale=_ls(ls, d))
    assert contains(anc, full)  # the cap never drops a member of the full rho-ball S_j


@pytest.mark.parametrize(("kind", "n", "d", "ls"), CASES)
@pytest.mark.parametrize("m", [1, 4, 9])
def test_knn_pattern_and_hops_match_brute_force(kind, n, d, ls, m):
    xo, _ = _ordered(kind, n, d, seed=5, ls=_ls(ls, d))
    idx = knn_pattern(xo, m, lengthscale=_ls(ls, d))
    check_padded(idx, n)
    assert idx.shape[1] == m
    S = brute_knn(xo, m, _ls(ls, d))
    np.testing.assert_array_equal(idx, padded(S))
    anc = pattern_ancestor_sets(xo, idx, lengthscale=_ls(ls, d))
    check_padded(anc, n)
    np.testing.assert_array_equal(anc, padded(brute_hops(xo, S)))
    assert contains(anc, idx)
    capped = pattern_ancestor_sets(xo, idx, lengthscale=_ls(ls, d), max_num_ancestor=m + 2)
    np.testing.assert_array_equal(
        capped, padded(brute_hops(xo, S, cap=m + 2, lengthscale=_ls(ls, d)))
    )
    assert contains(capped, idx)


def test_more_hops_reach_the_full_closure():
    xo, _ = _ordered("uniform", 120, 2, seed=2)
    idx = knn_pattern(xo, 3)
    S = brute_knn(xo, 3)
    for hops in (1, 3):
        anc = pattern_ancestor_sets(xo, idx, hops=hops)
        np.testing.assert_array_equal(anc, padded(brute_hops(xo, S, hops=hops)))
    np.testing.assert_array_equal(pattern_ancestor_sets(xo, idx, hops=1), idx)


def test_knn_pattern_with_many_duplicates_breaks_ties_by_index():
    X = np.repeat(np.random.default_rng(0).random((10, 2)), 12, axis=0)  # 12 copies each
    perm, ell = maximin_order(X)
    xo = X[perm]
    idx = knn_pattern(xo, 5)
    np.testing.assert_array_equal(idx, padded(brute_knn(xo, 5)))


def test_duplicates_pattern_is_radius_zero_ball():
    base = np.random.default_rng(1).random((40, 2))
    X = np.concatenate([base, base[[0, 5, 5]]])
    perm, ell = maximin_order(X)
    xo = X[perm]
    idx = rho_pattern(xo, ell, 2.0)
    anc = ancestor_sets(xo, ell, 2.0)
    np.testing.assert_array_equal(idx, padded(brute_rho(xo, ell, 2.0)))
    np.testing.assert_array_equal(anc, padded(brute_anc(xo, ell, 2.0)))
    for j in np.flatnonzero(ell == 0):  # S_j = {j} + its earlier exact copies
        copies = {i for i in range(j + 1) if np.array_equal(xo[i], xo[j])}
        assert set(idx[j][idx[j] >= 0].tolist()) == copies


def test_patterns_of_maximin_brute_force_order():
    """The pattern code does not depend on how the order was produced."""
    X = np.random.default_rng(4).random((90, 2))
    perm, ell = brute_maximin(X)
    idx = rho_pattern(X[perm], ell, 1.5)
    np.testing.assert_array_equal(idx, padded(brute_rho(X[perm], ell, 1.5)))


def test_single_point():
    xo = np.zeros((1, 2))
    for out in (
        rho_pattern(xo, [np.inf], 2.0),
        ancestor_sets(xo, [np.inf], 2.0),
        knn_pattern(xo, 3),
    ):
        np.testing.assert_array_equal(out, [[0]])
