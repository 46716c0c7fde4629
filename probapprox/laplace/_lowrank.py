r"""Top-``k`` eigenpairs of a symmetric curvature from matrix products only.

Randomised subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4 + 5.3): with a Gaussian
test matrix :math:`\Omega \in \mathbb R^{P \times \ell}`, :math:`\ell = \min(P, k + 10)`,
:math:`Q = \operatorname{qr}(G^{q}\Omega)` and the Rayleigh-Ritz matrix :math:`Q^\top G Q`
(:math:`\ell \times \ell`) is diagonalised densely. When :math:`\ell = P`, :math:`Q` is square
and orthogonal, so the result is the exact eigendecomposition (``rank=P`` equals ``full``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.laplace._structures import LowRank, clip_eigenvalues

__all__ = ["top_eigenpairs"]


def top_eigenpairs(
    matvec: Callable[[Array], Array],
    dim: int,
    rank: int,
    key: Array,
    dtype: jnp.dtype,
    *,
    power_iterations: int = 2,
    clip: bool,
) -> tuple[LowRank, int]:
    """Return the ``rank`` largest eigenpairs of ``G`` (``matvec(M) = G @ M``) as :class:`LowRank`.

    Negative eigenvalues are clipped at 0; their count is returned when ``clip`` (Hessian).
    """
    width = min(dim, rank + 10)
    q = jax.random.normal(key, (dim, width), dtype)
    for _ in range(power_iterations):
        q = jnp.linalg.qr(matvec(jnp.linalg.qr(q)[0]))[0]
    q = jnp.linalg.qr(q)[0]
    small = q.T @ matvec(q)
    evals, evecs = jnp.linalg.eigh(0.5 * (small + small.T))
    evals, evecs = evals[::-1][:rank], evecs[:, ::-1][:, :rank]
    lam, n = clip_eigenvalues(evals)
    return LowRank(q @ evecs, lam), (n if clip else 0)
