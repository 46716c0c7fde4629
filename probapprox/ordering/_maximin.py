r"""Exact maximin ordering (coarse to fine) with a KD-tree and batched greedy picks.

Maximin ordering (Guinness 2018; Schäfer, Katzfuss & Owhadi 2021, Alg. 4.1): on scaled points
:math:`\tilde x = x / \ell_{ARD}`, pick :math:`p_0`, then repeatedly

.. math::
    p_k = \arg\max_{i \notin P_k} d_k(i), \qquad
    d_k(i) = \min_{q \in P_k} \lVert \tilde x_i - \tilde x_q \rVert, \qquad \ell_k = d_k(p_k),

with :math:`P_k = \{p_0, \dots, p_{k-1}\}`. Ties in :math:`d_k` go to the lowest original
index. Since :math:`d_{k+1} \le d_k` pointwise, :math:`\ell_k` is non-increasing.

Algorithm. All current distances are :math:`\le \ell_k`, so picking :math:`p_k` can lower
:math:`d(i)` only for points within :math:`\ell_k` of :math:`\tilde x_{p_k}`: one KD-tree ball
query per pick keeps :math:`d` exact (Schäfer et al.'s heap argument; O(n log² n)-type work for
well-spread points). To cut Python overhead the picks are made in *batches*: the candidates
are sorted by :math:`(-d(i), i)`; candidate :math:`c_k` is the next pick after
:math:`c_0, \dots, c_{k-1}` exactly when none of those lowers its distance, i.e.
:math:`\lVert \tilde x_{c_k} - \tilde x_{c_i} \rVert \ge d(c_k)` for all :math:`i < k` (every
other point has a distance :math:`\le d(c_k)`, and a larger index on a tie). The longest such
prefix is accepted at once and its balls are applied together. Candidates are kept in a pool
(the current top few thousand by :math:`(d, -i)`) that is refilled with an O(n) partition.
The result is identical to the one-pick-at-a-time greedy (tests compare with brute force).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from probapprox.ordering._geometry import SLACK, ball_members, dist
from probapprox.ordering._inputs import scaled_points

__all__ = ["maximin_order", "maximin_order_after"]

_POOL = 4096  # candidates kept sorted between refills
_DENSE_PAIRS = 64  # batches up to this size check conflicts with a dense distance matrix


def maximin_order(X: Any, lengthscale: Any = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact maximin ordering of ``X`` on the scaled inputs ``X / lengthscale``.

    The first point is the one closest to the mean of the scaled inputs (ties: lowest
    index). Then each next point is the one farthest from all points already ordered (ties:
    lowest index). ``ell[k]`` is that distance for the ``k``-th point and ``ell[0] := ell[1]``.

    Exact duplicates get ``ell = 0`` and come last (in index order) once all distinct
    locations are ordered. For ``n == 1`` the result is ``perm = [0]``, ``ell = [inf]``.

    Args:
        X: ``(n, d)`` inputs (finite).
        lengthscale: scalar or ``(d,)`` ARD lengthscales (positive); ``None`` means 1.

    Returns:
        ``(perm, ell)``: int64 ``perm[k]`` is the original index of the ``k``-th point, and
        ``ell`` (float64, non-increasing) its maximin distance in scaled units.

    References:
        F. Schäfer, M. Katzfuss, H. Owhadi (2021). Sparse Cholesky factorization by
        Kullback-Leibler minimization. SIAM J. Sci. Comput. 43(3), A2019-A2046.

    """
    xt = scaled_points("maximin_order", "X", X, lengthscale)
    n = xt.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64), np.array([np.inf])
    first = int(np.argmin(dist(xt, xt.mean(axis=0))))
    d = dist(xt, xt[first])
    d[first] = -1.0
    rest, ell_rest = _greedy(xt, cKDTree(xt), d)
    perm = np.concatenate([[first], rest]).astype(np.int64)
    return perm, np.concatenate([ell_rest[:1], ell_rest])


def maximin_order_after(
    X_prev: Any, X_new: Any, lengthscale: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Maximin ordering of ``X_new`` placed after all of ``X_prev`` (e.g. test points).

    The same greedy rule as :func:`maximin_order`, except that the already-ordered set starts
    as all of ``X_prev``: ``ell_new[k]`` is the distance of the ``k``-th new point to all
    previous points and to the new points ordered before it (no ``ell[0]`` convention).

    Args:
        X_prev: ``(n_prev, d)`` points ordered before (their order does not matter here).
        X_new: ``(n_new, d)`` points to order.
        lengthscale: scalar or ``(d,)`` ARD lengthscales; ``None`` means 1.

    Returns:
        ``(perm_new, ell_new)``: ``perm_new[k]`` indexes ``X_new``; ``ell_new`` non-increasing.

    """
    xp = scaled_points("maximin_order_after", "X_prev", X_prev, lengthscale)
    xn = scaled_points("maximin_order_after", "X_new", X_new, lengthscale)
    if xp.shape[1] != xn.shape[1]:
        raise ValueError(
            "probapprox.ordering.maximin_order_after(X_new=...) must have the same number of "
            f"columns as X_prev ({xp.shape[1]}); got {xn.shape[1]}."
        )
    d = _nearest_distance(cKDTree(xp), xp, xn)
    order, ell = _greedy(xn, cKDTree(xn), d)
    return order.astype(np.int64), ell


def _nearest_distance(tree: cKDTree, xp: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Exact ``min_i dist(xq[k], xp[i])`` (the tree finds candidates, :func:`dist` decides)."""
    near, _ = tree.query(xq, k=1)
    members, src = ball_members(tree, xq, near)
    out = np.full(xq.shape[0], np.inf)
    np.minimum.at(out, src, dist(xp[members], xq[src]))
    return out


def _greedy(xt: np.ndarray, tree: cKDTree, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order the points with ``d >= 0`` (current distances); ``d < 0`` marks ordered points.

    ``d`` is updated in place. Returns the picked indices and their distances, in order.
    """
    picks, ells = [], []
    batch = 16
    while True:
        rem = np.flatnonzero(d >= 0.0)
        if rem.size == 0:
            break
        d_rem = d[rem]
        if d_rem.max() <= 0.0:  # only copies of ordered points remain: index order, ell = 0
            picks.append(rem)
            ells.append(np.zeros(rem.size))
            break
        cand, t_val, t_idx = _pool(rem, d_rem)
        while cand.size:
            dc = d[cand]
            live = (dc > t_val) | ((dc == t_val) & (cand <= t_idx))
            cand, dc = cand[live], dc[live]  # stays in ascending index order
            if cand.size == 0:
                break  # the pool ran dry: refill from all remaining points
            top = np.argsort(-dc, kind="stable")[:batch]  # by (-d, index)
            c_top, d_top = cand[top], dc[top]
            k = _accepted_prefix(xt[c_top], d_top)
            acc, ell_acc = c_top[:k], d_top[:k]
            picks.append(acc)
            ells.append(ell_acc)
            members, src = ball_members(tree, xt[acc], ell_acc)
            np.minimum.at(
                d, members, dist(np.take(xt, members, axis=0), np.take(xt[acc], src, axis=0))
            )
            d[acc] = -1.0
            batch = min(2 * batch, _POOL) if k == top.size else max(8, 2 * k)
    if not picks:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    return np.concatenate(picks), np.concatenate(ells)


def _pool(rem: np.ndarray, d_rem: np.ndarray) -> tuple[np.ndarray, float, int]:
    """The top ``_POOL`` remaining points by ``(d, -index)`` and the threshold ``(t, i_t)``.

    A point stays a candidate while ``d > t`` or ``d == t and index <= i_t``; every point
    outside the pool is below that threshold, so the pool always holds the maximiser.
    """
    if rem.size <= _POOL:
        return rem, -0.5, np.iinfo(np.int64).max
    cut = rem.size - _POOL
    t_val = float(np.partition(d_rem, cut)[cut])
    above = d_rem > t_val
    ties = rem[d_rem == t_val][: _POOL - int(above.sum())]
    cand = np.sort(np.concatenate([rem[above], ties]))
    return cand, t_val, int(ties[-1])


def _accepted_prefix(x_top: np.ndarray, d_top: np.ndarray) -> int:
    """Length of the longest prefix whose members do not lower each other's distances.

    ``d_top`` is non-increasing. Member ``b`` conflicts when ``dist(x_a, x_b) < d_top[b]`` for
    some ``a < b``; the prefix ends before the first conflict (member 0 never conflicts).
    """
    m = d_top.size
    if m <= 1:
        return m
    if m <= _DENSE_PAIRS:
        close = np.triu(dist(x_top[:, None, :], x_top[None, :, :]) < d_top[None, :], k=1)
        bad = close.any(axis=0)
        return int(np.argmax(bad)) if bad.any() else m
    pairs = cKDTree(x_top).query_pairs(float(d_top[0]) * (1.0 + SLACK), output_type="ndarray")
    if pairs.size == 0:
        return m
    a, b = pairs.min(axis=1), pairs.max(axis=1)
    bad = dist(x_top[a], x_top[b]) < d_top[b]
    return int(b[bad].min()) if bad.any() else m
