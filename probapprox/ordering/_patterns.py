r"""Sparsity patterns of the upper-triangular inverse-Cholesky factor in maximin order.

Column ``j`` of ``U`` (with ``U Uᵀ ≈ Θ⁻¹``) is nonzero only at rows ``S_j ⊆ {0..j}``. Patterns
are returned in the padded format: an ``(n, m)`` int32 array whose row ``j`` lists ``S_j``
sorted ascending, so ``j`` itself is last, padded at the front with ``-1``.

* :func:`rho_pattern`: :math:`S_j = \{i \le j : \lVert \tilde x_i - \tilde x_j \rVert \le
  \rho \ell_j\}` (Schäfer, Katzfuss & Owhadi 2021; Cao et al. 2023's DKLGP code).
* :func:`knn_pattern`: :math:`S_j = \{j\} \cup` the ``m - 1`` nearest earlier points.

Both query KD-trees built on growing prefixes ``x̃[:b]`` (``b`` doubling), so every ball or
neighbour query sees only O(1) times more points than it needs; work is O(n log n)-type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from probapprox.ordering._geometry import (
    SLACK,
    RowBuffer,
    ball_members,
    dist,
    finite_radii,
    keep_best,
)
from probapprox.ordering._inputs import (
    as_ell,
    optional_int,
    positive,
    required_int,
    scaled_points,
)

__all__ = ["knn_pattern", "prefix_blocks", "rho_pattern"]

_DENSE = 32  # the first points are handled with a dense distance matrix
_CHUNK = 65536  # query points per KD-tree call (bounds the temporary lists)


def prefix_blocks(n: int, start: int) -> list[tuple[int, int]]:
    """Blocks ``[a, b)`` covering ``[start, n)`` with ``b = min(n, 2a)`` (``start >= 1``)."""
    out, a = [], start
    while a < n:
        b = min(n, 2 * a)
        out.append((a, b))
        a = b
    return out


def rho_pattern(
    X_ordered: Any,
    ell: Any,
    rho: float,
    *,
    lengthscale: Any = None,
    max_neighbors: int | None = None,
) -> np.ndarray:
    r"""The ρ-ball pattern :math:`S_j = \{i \le j : |\tilde x_i-\tilde x_j| \le \rho\ell_j\}`.

    Distances are on ``X_ordered / lengthscale``; ``ell`` is the maximin distance of each
    point (from :func:`maximin_order`, in the same scaled units). With ``max_neighbors = k``
    row ``j`` keeps ``j`` and its ``k - 1`` nearest members of ``S_j`` (ties: lower index).

    Duplicates: a point with ``ell_j = 0`` (an exact copy of an earlier point) gets
    ``S_j = {j} ∪ {earlier exact copies of x_j}`` (a radius-0 ball); its prior column is then
    singular without a nugget.

    Args:
        X_ordered: ``(n, d)`` inputs already in maximin order.
        ell: ``(n,)`` maximin distances (``ell[0] := ell[1]``).
        rho: ball radius factor (> 0); the DKLGP experiments use 1 to 2.
        lengthscale: scalar or ``(d,)`` ARD lengthscales (as used for the ordering).
        max_neighbors: optional cap on ``|S_j|`` (>= 1).

    Returns:
        int32 ``(n, m)`` padded rows (``m`` = the largest ``|S_j|``).

    References:
        F. Schäfer, M. Katzfuss, H. Owhadi (2021). Sparse Cholesky factorization by
        Kullback-Leibler minimization. SIAM J. Sci. Comput. 43(3), A2019-A2046.

    """
    xt = scaled_points("rho_pattern", "X_ordered", X_ordered, lengthscale)
    n = xt.shape[0]
    ell = as_ell("rho_pattern", ell, n)
    rho = positive("rho_pattern", "rho", rho)
    cap = optional_int("rho_pattern", "max_neighbors", max_neighbors)
    radii = rho * ell
    query_r = finite_radii(xt, radii)
    rows = RowBuffer(n)
    j0 = min(n, _DENSE)
    d0 = dist(xt[:j0, None, :], xt[None, :j0, :])
    jj, ii = np.nonzero(np.tril(d0 <= radii[:j0, None]))
    rows.add(jj, ii, rows_sorted=True)
    for a, b in prefix_blocks(n, j0):
        tree = cKDTree(xt[:b])
        for lo in range(a, b, _CHUNK):
            hi = min(b, lo + _CHUNK)
            members, src = ball_members(tree, xt[lo:hi], query_r[lo:hi])
            earlier = members <= lo + src
            i, j = members[earlier], lo + src[earlier]
            inside = dist(np.take(xt, i, axis=0), np.take(xt, j, axis=0)) <= radii[j]
            rows.add(j[inside], i[inside], rows_sorted=True)
    idx = rows.finish()
    if cap is not None:
        idx = keep_best(idx, xt, cap, None)
    return idx


def knn_pattern(X_ordered: Any, num_neighbors: int, *, lengthscale: Any = None) -> np.ndarray:
    r"""The nearest-earlier-neighbours pattern: :math:`S_j = \{j\}\cup` ``m - 1`` nearest ``i < j``.

    Nearest in the scaled distance (ties: lower index). Rows ``j < m - 1`` hold ``{0..j}``.

    Args:
        X_ordered: ``(n, d)`` inputs already in maximin order.
        num_neighbors: ``m >= 1``, the row size including ``j`` itself.
        lengthscale: scalar or ``(d,)`` ARD lengthscales.

    Returns:
        int32 ``(n, min(m, n))`` padded rows.

    References:
        J. Guinness (2018). Permutation and grouping methods for sharpening Gaussian process
        approximations. Technometrics 60(4), 415-429.

    """
    xt = scaled_points("knn_pattern", "X_ordered", X_ordered, lengthscale)
    m = required_int("knn_pattern", "num_neighbors", num_neighbors)
    n = xt.shape[0]
    width = min(m, n)
    out = np.full((n, width), -1, dtype=np.int32)
    j0 = min(n, max(_DENSE, 2 * m))
    d0 = dist(xt[:j0, None, :], xt[None, :j0, :])
    cols = np.broadcast_to(np.arange(j0), (j0, j0))
    d0 = np.where(cols < np.arange(j0)[:, None], d0, np.inf)  # only earlier points
    _write_knn(out, np.arange(j0), cols, d0, m)
    for a, b in prefix_blocks(n, j0):
        tree = cKDTree(xt[:b])
        for lo in range(a, b, _CHUNK):
            _knn_rows(out, xt, tree, np.arange(lo, min(b, lo + _CHUNK)), m, b)
    return out


def _knn_rows(
    out: np.ndarray, xt: np.ndarray, tree: cKDTree, rows: np.ndarray, m: int, b: int
) -> None:
    """Fill rows ``j`` (all in one prefix block, ``m - 1 <= j < b``) of the k-NN pattern.

    Queries the ``k`` nearest of ``x̃[:b]``, keeps the earlier ones and accepts a row when
    its ``(m-1)``-th nearest earlier point is strictly closer than the farthest returned one
    (so nothing unreturned can tie or beat it); other rows are retried with ``2k``.
    """
    k = min(b, 2 * m + 4)
    while rows.size:
        _, nb = tree.query(xt[rows], k=k)
        nb = nb.reshape(rows.size, k)
        d = dist(np.take(xt, nb, axis=0), xt[rows][:, None, :])
        far = d.max(axis=1)
        d = np.where(nb < rows[:, None], d, np.inf)
        if m == 1 or k == b:
            ok = np.ones(rows.size, dtype=bool)
        else:
            kth = np.partition(d, m - 2, axis=1)[:, m - 2]
            ok = kth * (1.0 + SLACK) < far
        _write_knn(out, rows[ok], nb[ok], d[ok], m)
        rows = rows[~ok]
        k = min(b, 2 * k)


def _write_knn(out: np.ndarray, rows: np.ndarray, nb: np.ndarray, d: np.ndarray, m: int) -> None:
    """Row ``j`` := ``{j}`` plus the ``m - 1`` entries of ``nb[j]`` with smallest finite ``d``."""
    if rows.size == 0:
        return
    order = np.lexsort((nb, d), axis=1)[:, : m - 1]
    pick = np.take_along_axis(nb, order, axis=1)
    pick = np.where(np.isfinite(np.take_along_axis(d, order, axis=1)), pick, -1)
    full = np.sort(np.concatenate([pick, rows[:, None]], axis=1), axis=1)
    out[rows] = full[:, full.shape[1] - out.shape[1] :]
