"""maximin_order / maximin_order_after against the O(n^2) greedy (exact, ties included)."""

import numpy as np
import pytest
from ordering_reference import bdist, brute_after, brute_maximin, scale

from probapprox.ordering import _maximin, maximin_order
from probapprox.ordering._maximin import maximin_order_after


def _points(kind, n, d, seed):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n, d))
    if kind == "grid":  # many exact ties and duplicates
        return rng.integers(0, 6, size=(n, d)).astype(float)
    if kind == "clusters":
        centers = rng.normal(size=(4, d)) * 10
        return centers[rng.integers(0, 4, n)] + 0.01 * rng.normal(size=(n, d))
    raise ValueError(kind)


CASES = [
    (kind, n, d, ls)
    for kind in ("uniform", "grid", "clusters")
    for n, d in ((50, 1), (120, 2), (300, 2), (200, 3))
    for ls in (None, "ard")
]


def _ls(ls, d):
    return None if ls is None else np.linspace(0.5, 2.0, d)


@pytest.mark.parametrize(("kind", "n", "d", "ls"), CASES)
def test_maximin_matches_brute_force(kind, n, d, ls):
    X = _points(kind, n, d, seed=n + d)
    perm, ell = maximin_order(X, lengthscale=_ls(ls, d))
    perm_b, ell_b = brute_maximin(X, _ls(ls, d))
    np.testing.assert_array_equal(perm, perm_b)
    np.testing.assert_array_equal(ell, ell_b)
    assert perm.dtype == np.int64 and ell.dtype == np.float64
    assert np.all(np.diff(ell) <= 0)  # exact maximin: non-increasing


@pytest.mark.parametrize("kind", ["uniform", "grid"])
def test_small_pool_and_large_batches_stay_exact(monkeypatch, kind):
    """Force pool refills and the KD-tree conflict check on a small problem."""
    monkeypatch.setattr(_maximin, "_POOL", 24)
    monkeypatch.setattr(_maximin, "_DENSE_PAIRS", 4)
    X = _points(kind, 400, 2, seed=3)
    perm, ell = maximin_order(X)
    perm_b, ell_b = brute_maximin(X)
    np.testing.assert_array_equal(perm, perm_b)
    np.testing.assert_array_equal(ell, ell_b)


def test_maximin_property_directly():
    """ell[k] is the distance to the earlier points and the largest such distance left."""
    X = _points("uniform", 150, 2, seed=7)
    perm, ell = maximin_order(X)
    xo = X[perm]
    for k in range(1, len(xo)):
        to_prev = bdist(xo[k:, None, :], xo[None, :k, :]).min(axis=1)
        assert to_prev[0] == ell[k]
        assert to_prev.max() == ell[k]
    assert ell[0] == ell[1]
    assert perm[0] == np.argmin(bdist(X, X.mean(axis=0)))
    assert np.array_equal(np.sort(perm), np.arange(len(X)))


def test_duplicates_get_zero_ell_and_come_last_in_index_order():
    rng = np.random.default_rng(0)
    base = rng.random((30, 2))
    X = np.concatenate([base, base[[3, 7, 3]], base[:5]])  # rows 30..37 are copies
    perm, ell = maximin_order(X)
    assert np.all(ell[:30] > 0) and np.all(ell[30:] == 0)
    np.testing.assert_array_equal(np.sort(perm[30:]), perm[30:])
    np.testing.assert_array_equal(perm, brute_maximin(X)[0])


def test_all_identical_and_tiny_inputs():
    perm, ell = maximin_order(np.ones((5, 3)))
    np.testing.assert_array_equal(perm, np.arange(5))
    np.testing.assert_array_equal(ell, np.zeros(5))
    perm, ell = maximin_order(np.array([[0.0, 0.0]]))
    assert perm.tolist() == [0] and ell.tolist() == [np.inf]
    perm, ell = maximin_order(np.array([[0.0], [3.0]]))
    assert perm.tolist() == [0, 1] and ell.tolist() == [3.0, 3.0]


def test_lengthscale_is_scaling():
    X = _points("uniform", 100, 2, seed=1)
    ls = np.array([0.3, 2.0])
    perm_a, ell_a = maximin_order(X, lengthscale=ls)
    perm_b, ell_b = maximin_order(X / ls)
    np.testing.assert_array_equal(perm_a, perm_b)
    np.testing.assert_array_equal(ell_a, ell_b)
    perm_s, ell_s = maximin_order(X, lengthscale=0.5)
    np.testing.assert_array_equal(perm_s, maximin_order(X)[0])
    np.testing.assert_allclose(ell_s, 2 * maximin_order(X)[1], rtol=1e-14)


@pytest.mark.parametrize(
    ("kind", "d", "ls"),
    [("uniform", 2, None), ("grid", 2, "ard"), ("uniform", 3, "ard"), ("grid", 1, None)],
)
def test_after_matches_brute_force(kind, d, ls):
    X = _points(kind, 260, d, seed=11)
    X_prev, X_new = X[:200], X[200:]
    perm, ell = maximin_order_after(X_prev, X_new, lengthscale=_ls(ls, d))
    perm_b, ell_b = brute_after(X_prev, X_new, _ls(ls, d))
    np.testing.assert_array_equal(perm, perm_b)
    np.testing.assert_array_equal(ell, ell_b)
    assert np.all(np.diff(ell) <= 0)


def test_after_distances_count_previous_points():
    X_prev = np.array([[0.0, 0.0], [10.0, 0.0]])
    X_new = np.array([[1.0, 0.0], [5.0, 0.0], [9.0, 0.5]])
    perm, ell = maximin_order_after(X_prev, X_new)
    assert perm.tolist() == [1, 2, 0]
    np.testing.assert_allclose(ell, [5.0, np.sqrt(1.25), 1.0])
    joint = scale(np.concatenate([X_prev, X_new[perm]]))
    for k in range(3):
        assert bdist(joint[: 2 + k], joint[2 + k]).min() == ell[k]
