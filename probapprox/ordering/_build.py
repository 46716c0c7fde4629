"""One-call ordering + pattern + ancestor sets, and the :class:`Pattern` record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from probapprox.ordering._ancestors import ancestor_sets, pattern_ancestor_sets
from probapprox.ordering._inputs import as_points, optional_int, positive, scaled_points
from probapprox.ordering._maximin import maximin_order
from probapprox.ordering._patterns import knn_pattern, rho_pattern

__all__ = ["Pattern", "build_pattern"]


@dataclass(frozen=True, eq=False)
class Pattern:
    """A maximin ordering with its inverse-Cholesky pattern and reduced ancestor sets.

    Attributes:
        perm: int64 ``(n,)``; ``X[perm]`` is the maximin order (coarse to fine).
        ell: float64 ``(n,)`` maximin distances in scaled units (non-increasing).
        idx: int32 ``(n, m)`` padded pattern ``S`` (row ``j`` ascending, ``j`` last, ``-1``
            padding first); indices refer to the ordered points.
        anc: int32 ``(n, a)`` padded ancestor sets ``A_j ⊇ S_j`` (same format).
        rho: the ρ of the ρ-ball pattern, or ``None`` for the k-NN pattern.
        num_neighbors: ``m`` of the k-NN pattern, or ``None`` for the ρ-ball pattern.
        lengthscale: the lengthscale the ordering used (``None`` means 1).

    """

    perm: np.ndarray
    ell: np.ndarray
    idx: np.ndarray
    anc: np.ndarray
    rho: float | None
    num_neighbors: int | None
    lengthscale: Any

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.idx.shape[0])

    @property
    def nnz(self) -> int:
        """Number of nonzeros of the factor, ``sum_j |S_j|``."""
        return int(np.count_nonzero(self.idx >= 0))

    @property
    def mean_neighbors(self) -> float:
        """``nnz / n`` (DKLGP's ``m`` for matching baselines)."""
        return self.nnz / self.n

    @property
    def max_neighbors(self) -> int:
        """The padded width ``m = max_j |S_j|``."""
        return int(self.idx.shape[1])

    @property
    def mean_ancestors(self) -> float:
        """``sum_j |A_j| / n``."""
        return int(np.count_nonzero(self.anc >= 0)) / self.n

    @property
    def max_ancestors(self) -> int:
        """The padded width ``a = max_j |A_j|``."""
        return int(self.anc.shape[1])


def build_pattern(
    X: Any,
    *,
    lengthscale: Any = None,
    rho: float = 2.0,
    num_neighbors: int | None = None,
    max_num_ancestor: int | None = None,
) -> Pattern:
    r"""Maximin-order ``X`` and build its pattern and ancestor sets in one call.

    * ``num_neighbors is None`` (default): :func:`rho_pattern` with ``rho`` and
      :func:`ancestor_sets` with the same ``rho`` (the DKLGP paper's choice).
    * ``num_neighbors = m``: :func:`knn_pattern` (``rho`` is ignored and recorded as ``None``)
      and the 2-hop :func:`pattern_ancestor_sets`.

    Args:
        X: ``(n, d)`` inputs in their original order.
        lengthscale: scalar or ``(d,)`` ARD lengthscales; ordering and patterns use
            ``X / lengthscale``.
        rho: ρ-ball factor (> 0).
        num_neighbors: use the k-NN pattern with rows of this size (>= 1).
        max_num_ancestor: optional cap on ``|A_j|`` (see the ancestor functions).

    Returns:
        A :class:`Pattern`; index the data with ``X[pattern.perm]``.

    """
    owner = "build_pattern"
    as_points(owner, "X", X)
    scaled_points(owner, "X", X, lengthscale)  # validates lengthscale against X
    rho = positive(owner, "rho", rho)
    m = optional_int(owner, "num_neighbors", num_neighbors)
    optional_int(owner, "max_num_ancestor", max_num_ancestor)
    perm, ell = maximin_order(X, lengthscale)
    xo = np.asarray(X, dtype=np.float64)[perm]
    if m is None:
        idx = rho_pattern(xo, ell, rho, lengthscale=lengthscale)
        anc = ancestor_sets(
            xo, ell, rho, lengthscale=lengthscale, max_num_ancestor=max_num_ancestor
        )
    else:
        idx = knn_pattern(xo, m, lengthscale=lengthscale)
        anc = pattern_ancestor_sets(
            xo, idx, lengthscale=lengthscale, max_num_ancestor=max_num_ancestor
        )
    return Pattern(
        perm=perm,
        ell=ell,
        idx=idx,
        anc=anc,
        rho=None if m is not None else rho,
        num_neighbors=m,
        lengthscale=lengthscale,
    )
