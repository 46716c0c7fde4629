"""Distances, KD-tree ball queries and the padded row format (private helpers).

All distances in :mod:`probapprox.ordering` come from :func:`dist`, which sums the squared
coordinate differences in a fixed order (coordinate 0, then 1, ...). The KD-tree is used only
to find *candidates* (with radii inflated by a relative ``SLACK``); membership is always
decided by :func:`dist`, so the results do not depend on the tree's rounding and equal a
brute-force computation that uses the same formula, ties included.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["SLACK", "RowBuffer", "ball_members", "dist", "finite_radii", "keep_best"]

SLACK = 1e-12  # relative inflation of KD-tree query radii (rounding safety only)


def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance over the last axis, ``sqrt(((a_0-b_0)^2 + (a_1-b_1)^2) + ...)``."""
    diff = np.subtract(a, b)
    acc = diff[..., 0] * diff[..., 0]
    for k in range(1, diff.shape[-1]):
        acc += diff[..., k] * diff[..., k]
    return np.sqrt(acc)


def finite_radii(xt: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """``radii`` with ``inf`` replaced by a radius that already covers every point."""
    if np.all(np.isfinite(radii)):
        return radii
    span = float(np.sqrt(np.sum(np.ptp(xt, axis=0) ** 2)))
    return np.minimum(radii, 2.0 * span + 1.0)


def ball_members(
    tree: cKDTree, centers: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Tree points within (slightly more than) ``radii`` of each center, as flat arrays.

    Returns:
        ``(members, source)``: ``members[k]`` is a tree index and ``source[k]`` the position of
        its center in ``centers``. A superset of the exact balls; filter with :func:`dist`.

    """
    lists = tree.query_ball_point(centers, radii * (1.0 + SLACK), return_sorted=False)
    lens = np.fromiter(map(len, lists), dtype=np.intp, count=len(lists))
    members = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.intp, count=lens.sum())
    return members, np.repeat(np.arange(len(lists)), lens)


class RowBuffer:
    """Collects ``(row, col)`` pairs and returns them in the padded row format.

    The padded format is an ``(n, w)`` int32 array whose row ``j`` holds the columns added to
    row ``j`` sorted ascending and padded at the *front* with ``-1`` (``w`` = largest row).
    """

    def __init__(self, n: int, width: int = 8) -> None:
        self.buf = np.full((n, max(1, width)), -1, dtype=np.int32)
        self.count = np.zeros(n, dtype=np.int64)

    def add(self, rows: np.ndarray, cols: np.ndarray, *, rows_sorted: bool = False) -> None:
        """Append pairs (no duplicates of pairs already added)."""
        if rows.size == 0:
            return
        if not rows_sorted:  # sort packed (row, col) keys: faster than argsort + gathers
            keys = (rows.astype(np.int64) << 32) | cols.astype(np.int64)
            keys.sort()
            rows, cols = keys >> 32, keys & 0xFFFFFFFF
        start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        run = np.diff(np.r_[start, rows.size])
        slot = self.count[rows] + (np.arange(rows.size) - np.repeat(start, run))
        need = int(slot.max()) + 1
        if need > self.buf.shape[1]:
            grow = max(need, 2 * self.buf.shape[1]) - self.buf.shape[1]
            pad = np.full((self.buf.shape[0], grow), -1, dtype=np.int32)
            self.buf = np.concatenate([self.buf, pad], axis=1)
        self.buf[rows, slot] = cols
        self.count[rows[start]] += run

    def finish(self) -> np.ndarray:
        """The padded array (rows sorted ascending, ``-1`` first)."""
        width = max(1, int(self.count.max()))
        out = self.buf[:, :width]
        out.sort(axis=1)
        return np.ascontiguousarray(out)


def keep_best(
    idx: np.ndarray,
    xt: np.ndarray,
    cap: int,
    forced_radius: np.ndarray | None,
    chunk: int = 16384,
) -> np.ndarray:
    """Shrink each padded row to at most ``cap`` members, keeping forced ones and the nearest.

    Row ``j`` keeps ``j`` and every member ``i`` with ``dist(x_i, x_j) <= forced_radius[j]``,
    then the other members in order of increasing ``dist(x_i, x_j)`` (ties: lower index)
    until ``cap`` members are kept (more if more are forced). Output in the padded format.

    Args:
        idx: ``(n, w)`` padded rows (row ``j`` contains ``j``).
        xt: ``(n, d)`` scaled points.
        cap: members to keep per row.
        forced_radius: ``(n,)`` radii or ``None`` (only ``j`` is forced).
        chunk: rows processed at a time (bounds the memory).

    """
    n, w = idx.shape
    counts = (idx >= 0).sum(axis=1)
    rows = np.flatnonzero(counts > cap)
    if rows.size == 0:
        return idx
    kept, kept_n = [], []
    for lo in range(0, rows.size, chunk):
        r = rows[lo : lo + chunk]
        sub = idx[r]
        valid = sub >= 0
        d = np.where(
            valid, dist(np.take(xt, np.maximum(sub, 0), axis=0), xt[r][:, None, :]), np.inf
        )
        must = sub == r[:, None]
        if forced_radius is not None:
            must |= d <= forced_radius[r][:, None]
        order = np.lexsort((sub, d, ~must, ~valid), axis=1)
        n_keep = np.maximum(cap, must.sum(axis=1))
        take = np.arange(w)[None, :] < n_keep[:, None]
        kept.append(np.where(take, np.take_along_axis(sub, order, axis=1), -1))
        kept_n.append(n_keep)
    width = max(int(counts[counts <= cap].max(initial=0)), *(int(k.max()) for k in kept_n))
    out = np.full((n, width), -1, dtype=np.int32)
    small = np.flatnonzero(counts <= cap)
    out[small] = idx[small, w - width :]
    for lo, k in zip(range(0, rows.size, chunk), kept, strict=True):
        out[rows[lo : lo + chunk]] = np.sort(k, axis=1)[:, w - width :]
    return out
