r"""Reduced ancestor sets ``A_j ⊇ S_j`` in the padded format (for the posterior factor ``V``).

For upper-triangular ``V`` with column pattern ``S``, ``V⁻¹ e_j`` is supported on the
ancestors of ``j`` (the transitive closure of ``i ∈ S_k, k ∈ Anc(j)``). DKLGP replaces that
set with a cheaper superset of ``S_j`` (Cao et al. 2023, code ``sortSparse``):

* :func:`ancestor_sets`: :math:`A_j = \{i \le j : \lVert\tilde x_i-\tilde x_j\rVert \le \rho
  \ell_i\}` (the ball of the *earlier* point; contains ``S_j`` because ``ell`` is
  non-increasing);
* :func:`pattern_ancestor_sets` (ρ-free, for :func:`knn_pattern`): the ``hops``-step closure
  :math:`A_j = S_j \cup \bigcup_{i \in S_j} S_i` for ``hops = 2``.

Rows are sorted ascending (``j`` last) and padded at the front with ``-1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from probapprox.ordering._geometry import RowBuffer, ball_members, dist, finite_radii, keep_best
from probapprox.ordering._inputs import (
    as_ell,
    optional_int,
    positive,
    required_int,
    scaled_points,
)

__all__ = ["ancestor_sets", "pattern_ancestor_sets"]

_TARGET = 2_000_000  # ball members gathered per KD-tree call


def ancestor_sets(
    X_ordered: Any,
    ell: Any,
    rho: float,
    *,
    lengthscale: Any = None,
    max_num_ancestor: int | None = None,
) -> np.ndarray:
    r"""Reduced ancestor sets :math:`A_j = \{i \le j : |\tilde x_i-\tilde x_j| \le \rho\ell_i\}`.

    Computed from each earlier point's ball (one KD-tree query per point ``i``, keeping the
    later points), so the work is proportional to the output, O(n ρ^d log n) for well-spread
    inputs. With ``max_num_ancestor = a``, row ``j`` keeps all of the ρ-ball
    :math:`S_j = \{i \le j : \lVert\tilde x_i-\tilde x_j\rVert \le \rho\ell_j\}` and then the
    nearest other members (ties: lower index) up to ``a`` in total; if ``|S_j| > a`` the row
    is ``S_j`` (so ``A_j ⊇ S_j`` always holds).

    Duplicates: a point ``i`` with ``ell_i = 0`` (an exact copy of an earlier point) is an
    ancestor only of itself and of its later exact copies (a radius-0 ball).

    Args:
        X_ordered: ``(n, d)`` inputs already in maximin order.
        ell: ``(n,)`` maximin distances (non-increasing, from :func:`maximin_order`).
        rho: ball radius factor (> 0), the same as for :func:`rho_pattern`.
        lengthscale: scalar or ``(d,)`` ARD lengthscales.
        max_num_ancestor: optional cap on ``|A_j|`` (>= 1).

    Returns:
        int32 ``(n, a)`` padded rows.

    References:
        J. Cao, M. Kang, F. Jimenez, H. Sang, F. Schäfer, M. Katzfuss (2023). Variational
        sparse inverse Cholesky approximation for latent Gaussian processes via double
        Kullback-Leibler minimization. ICML.

    """
    xt = scaled_points("ancestor_sets", "X_ordered", X_ordered, lengthscale)
    n = xt.shape[0]
    ell = as_ell("ancestor_sets", ell, n)
    rho = positive("ancestor_sets", "rho", rho)
    cap = optional_int("ancestor_sets", "max_num_ancestor", max_num_ancestor)
    radii = rho * ell
    query_r = finite_radii(xt, radii)
    tree = cKDTree(xt)
    rows = RowBuffer(n, width=16)
    a, size = 0, 64
    while a < n:
        b = min(n, a + size)
        members, src = ball_members(tree, xt[a:b], query_r[a:b])
        later = members >= a + src
        j, i = members[later], a + src[later]
        inside = dist(np.take(xt, j, axis=0), np.take(xt, i, axis=0)) <= radii[i]
        rows.add(j[inside], i[inside])
        per_point = max(1.0, members.size / (b - a))
        size = int(min(1 << 16, max(64, _TARGET / per_point)))
        a = b
    anc = rows.finish()
    if cap is not None:
        anc = keep_best(anc, xt, cap, radii)
    return anc


def pattern_ancestor_sets(
    X_ordered: Any,
    idx: Any,
    *,
    hops: int = 2,
    lengthscale: Any = None,
    max_num_ancestor: int | None = None,
) -> np.ndarray:
    r"""ρ-free ancestor sets from a pattern: the ``hops``-step closure of ``S``.

    :math:`A^{(1)}_j = S_j` and :math:`A^{(h)}_j = A^{(h-1)}_j \cup \bigcup_{i \in
    A^{(h-1)}_j} S_i`; the default ``hops = 2`` gives :math:`S_j \cup \bigcup_{i\in S_j} S_i`.
    The full closure (``hops`` large) is the exact support of ``V⁻¹ e_j``. With
    ``max_num_ancestor = a``, row ``j`` keeps the ``max(a, m)`` members nearest to ``x̃_j``
    (ties: lower index; ``m = idx.shape[1]``); for a :func:`knn_pattern` this always keeps
    all of ``S_j``.

    Args:
        X_ordered: ``(n, d)`` inputs in maximin order (used only for the cap's distances).
        idx: ``(n, m)`` padded pattern (e.g. from :func:`knn_pattern`).
        hops: closure steps (>= 1).
        lengthscale: scalar or ``(d,)`` ARD lengthscales.
        max_num_ancestor: optional cap on ``|A_j|`` (>= 1).

    Returns:
        int32 ``(n, a)`` padded rows.

    """
    xt = scaled_points("pattern_ancestor_sets", "X_ordered", X_ordered, lengthscale)
    n = xt.shape[0]
    hops = required_int("pattern_ancestor_sets", "hops", hops)
    cap = optional_int("pattern_ancestor_sets", "max_num_ancestor", max_num_ancestor)
    idx = _as_pattern(idx, n)
    anc = idx
    for _ in range(hops - 1):
        anc = _one_hop(anc, idx)
    if cap is not None:
        anc = keep_best(anc, xt, max(cap, idx.shape[1]), None)
    return anc


def _one_hop(anc: np.ndarray, idx: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Rows ``anc_j ∪ ⋃_{i ∈ anc_j} idx_i`` in the padded format."""
    n = anc.shape[0]
    rows = RowBuffer(n, width=anc.shape[1])
    for lo in range(0, n, chunk):
        a = anc[lo : lo + chunk]
        nb = np.where(a[:, :, None] >= 0, idx[np.maximum(a, 0)], -1)
        v = np.sort(np.concatenate([a, nb.reshape(a.shape[0], -1)], axis=1), axis=1)
        v[:, 1:][v[:, 1:] == v[:, :-1]] = -1
        r, c = np.nonzero(v >= 0)
        rows.add(lo + r, v[r, c], rows_sorted=True)
    return rows.finish()


def _as_pattern(idx: Any, n: int) -> np.ndarray:
    arr = np.asarray(idx)
    owner = "probapprox.ordering.pattern_ancestor_sets(idx=...)"
    if arr.ndim != 2 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{owner} must be an integer array of shape ({n}, m); got {arr.shape}.")
    if not np.array_equal(arr[:, -1], np.arange(n)) or (arr < -1).any():
        raise ValueError(f"{owner} must be in the padded format (row j ends with j, -1 padding).")
    return arr.astype(np.int32)
