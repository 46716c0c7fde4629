"""Maximin ordering and sparse inverse-Cholesky patterns (host-side NumPy + scipy KD-trees).

>>> import numpy as np
>>> from probapprox.ordering import build_pattern
>>> X = np.random.default_rng(0).random((500, 2))
>>> pat = build_pattern(X, rho=2.0)
>>> bool((pat.idx[:, -1] == np.arange(500)).all())
True

Conventions shared with the latent-GP (DKLGP) code: points are indexed in maximin order
(coarse to fine) on ``X / lengthscale``; the factor is upper-triangular (``U Uᵀ ≈ Θ⁻¹``,
column ``j`` supported on rows ``i <= j``); patterns and ancestor sets are int32 ``(n, m)``
arrays whose row ``j`` is sorted ascending, ends with ``j`` and is padded at the front with
``-1``. Distances, radii and ``ell`` are in scaled units. No JAX here.

Reference: Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), "Variational sparse inverse
Cholesky approximation for latent Gaussian processes via double Kullback-Leibler
minimization", ICML; Schäfer, Katzfuss, Owhadi (2021), SIAM J. Sci. Comput. 43(3).
"""

from probapprox.ordering._ancestors import ancestor_sets as ancestor_sets
from probapprox.ordering._build import Pattern as Pattern
from probapprox.ordering._build import build_pattern as build_pattern
from probapprox.ordering._maximin import maximin_order as maximin_order
from probapprox.ordering._patterns import knn_pattern as knn_pattern
from probapprox.ordering._patterns import rho_pattern as rho_pattern

__all__ = [
    "Pattern",
    "ancestor_sets",
    "build_pattern",
    "knn_pattern",
    "maximin_order",
    "rho_pattern",
]
