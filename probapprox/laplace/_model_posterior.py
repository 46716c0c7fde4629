r"""Positive-definite Laplace posteriors :math:`\mathcal N(u_*, C^{-1})` from a model curvature.

A curvature :math:`C` can be singular or indefinite (a flat direction, an improper prior, a
point that is not quite a mode). Each structure clips its eigenvalues (or diagonal entries)
from below at a floor :math:`\epsilon > 0`,

.. math::
    C = Q\,\mathrm{diag}(\lambda)\,Q^\top \;\mapsto\;
    Q\,\mathrm{diag}(\max(|\lambda|, \epsilon))\,Q^\top,
    \qquad \epsilon = \texttt{min\_eigenvalue}
    \ \text{or}\ D\,\varepsilon_{\mathrm{mach}}\,\max_i |\lambda_i|,

(probapprox's one floor rule, :func:`probapprox.linalg.floor_eigenvalues`) and reports how
many it clipped, so the scale is never zero and never NaN. ``lowrank`` keeps
the top-:math:`k` eigenpairs (randomised subspace iteration) and gives the other
:math:`D - k` directions the mean remaining eigenvalue :math:`c = (\operatorname{tr} C -
\sum_i \lambda_i) / (D - k)`, with :math:`\operatorname{tr} C` from Hutchinson's estimator,
clipped to :math:`[\epsilon, \lambda_k]`.

Reference: Daxberger et al. (2021), "Laplace Redux", NeurIPS; Halko, Martinsson & Tropp
(2011), SIAM Review 53(2) (randomised eigendecomposition); Hutchinson (1990).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.laplace._lowrank import top_eigenpairs
from probapprox.laplace._model_curvature import dense, diagonal
from probapprox.linalg import eigenvalue_floor, floor_eigenvalues

__all__ = ["MODEL_STRUCTURES", "full_posterior", "diag_posterior", "lowrank_posterior"]

MODEL_STRUCTURES = ("full", "diag", "lowrank")


@jax.jit
def _full(c: Array, min_eigenvalue: Array | None) -> tuple[Array, Array]:
    evals, evecs = jnp.linalg.eigh(c)
    clipped, num = floor_eigenvalues(evals, min_eigenvalue)
    cov = (evecs / clipped) @ evecs.T
    return jnp.linalg.cholesky(0.5 * (cov + cov.T)), num


def full_posterior(
    matvec: Callable[[Array], Array], dim: int, dtype: Any, min_eigenvalue: float | None
) -> tuple[dict[str, Array], int]:
    r"""``({"scale_tril": L}, num_clipped)`` with :math:`LL^\top = C_{\mathrm{clipped}}^{-1}`."""
    chol, n = _full(dense(matvec, dim, dtype), min_eigenvalue)
    return {"scale_tril": chol}, int(n)


def diag_posterior(
    matvec: Callable[[Array], Array], dim: int, dtype: Any, min_eigenvalue: float | None
) -> tuple[dict[str, Array], int]:
    r"""``({"scale": s}, num_clipped)`` with :math:`s_i = \max(|C_{ii}|, \epsilon)^{-1/2}`."""
    d = diagonal(matvec, dim, dtype)
    a, num = floor_eigenvalues(d, min_eigenvalue)
    return {"scale": 1.0 / jnp.sqrt(a)}, int(num)


def lowrank_posterior(
    matvec: Callable[[Array], Array],
    dim: int,
    dtype: Any,
    min_eigenvalue: float | None,
    *,
    rank: int,
    key: Array,
    num_probes: int = 32,
) -> tuple[dict[str, Array], int]:
    """``({"evecs", "evals", "rest"}, num_clipped)`` for the low-rank-plus-isotropic precision."""
    rank = min(rank, dim)
    block_mv = jax.vmap(matvec, in_axes=1, out_axes=1)
    k_eig, k_probe = jax.random.split(key)
    lr, _ = top_eigenpairs(block_mv, dim, rank, k_eig, dtype, clip=False)
    raw, evecs = lr.lam, lr.u  # eigenvalues already clipped at 0
    floor = eigenvalue_floor(raw, min_eigenvalue)
    evals, num_clipped = floor_eigenvalues(raw, min_eigenvalue)
    num_clipped = int(num_clipped)
    if rank < dim:
        probes = jax.random.rademacher(k_probe, (dim, num_probes), dtype=dtype)
        trace = jnp.mean(jnp.sum(probes * block_mv(probes), axis=0))
        rest = (trace - jnp.sum(raw)) / (dim - rank)
        rest = jnp.clip(rest, floor, jnp.min(evals))
    else:
        rest = jnp.min(evals)
    return {"evecs": evecs, "evals": evals, "rest": rest}, num_clipped
