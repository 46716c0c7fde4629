r"""Padded sparse upper-triangular factors: products, solves, log-determinant, dense views.

A factor :math:`U \in \mathbb R^{n\times n}` (upper triangular, :math:`U_{ij} = 0` for
:math:`i > j`) is stored column by column: ``idx (n, m)`` lists the rows of column j's
nonzeros (ascending, j last, front-padded with -1) and ``values (n, m)`` holds
:math:`U_{\mathrm{idx}[j,k],\,j}` (0 in padded slots). The precision it represents is
:math:`U U^\top`, so :math:`\log\det(UU^\top) = 2\sum_j \log U_{jj}`.

Every function is pure ``jax.numpy``: jit-, vmap- and grad-compatible. The global
triangular solves are column sweeps (``lax.scan``) costing O(n m) work.

Reference:
    Schäfer, Katzfuss, Owhadi (2021), "Sparse Cholesky factorization by Kullback–Leibler
    minimization", SIAM J. Sci. Comput. 43(3).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from probapprox.linalg._pattern import check_pattern

__all__ = ["to_dense", "matvec", "rmatvec", "diag", "logdet_precision", "solve"]


def _check_pair(owner: str, values: jax.Array, idx: jax.Array) -> None:
    if jnp.ndim(idx) != 2 or jnp.shape(values) != jnp.shape(idx):
        raise ValueError(
            f"probapprox.linalg.{owner}(values=..., idx=...) expects two (n, m) arrays of the "
            f"same shape; got values {jnp.shape(values)} and idx {jnp.shape(idx)}."
        )


def _check_vector(owner: str, name: str, x: jax.Array, n: int) -> None:
    if jnp.ndim(x) < 1 or jnp.shape(x)[0] != n:
        raise ValueError(
            f"probapprox.linalg.{owner}({name}=...) expects shape (n,) or (n, k) with n = {n}; "
            f"got {jnp.shape(x)}."
        )


def _masked(values: jax.Array, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Values with padded slots zeroed, and row indices with padding mapped to 0."""
    mask = idx >= 0
    return jnp.where(mask, values, 0.0), jnp.where(mask, idx, 0)


def _expand(vals: jax.Array, ndim: int) -> jax.Array:
    return vals.reshape(vals.shape + (1,) * (ndim - 1))


def to_dense(values: jax.Array, idx: jax.Array, n: int) -> jax.Array:
    """The dense ``(n, n_cols)`` matrix with ``U[idx[j, k], j] = values[j, k]``.

    Args:
        values: ``(n_cols, m)`` column values.
        idx: ``(n_cols, m)`` row indices (front-padded with -1).
        n: number of rows (usually ``n_cols``).

    """
    _check_pair("to_dense", values, idx)
    return _to_dense(jnp.asarray(values), jnp.asarray(idx), n=int(n))


@partial(jax.jit, static_argnames="n")
def _to_dense(values: jax.Array, idx: jax.Array, n: int) -> jax.Array:
    vals, rows = _masked(values, idx)
    cols = jnp.broadcast_to(jnp.arange(idx.shape[0])[:, None], idx.shape)
    return jnp.zeros((n, idx.shape[0]), dtype=vals.dtype).at[rows, cols].add(vals)


def matvec(values: jax.Array, idx: jax.Array, x: jax.Array) -> jax.Array:
    r""":math:`U x` for ``x (n,)`` or ``(n, k)``: scatter-add :math:`U_{ij} x_j` into row i."""
    _check_pair("matvec", values, idx)
    _check_vector("matvec", "x", x, idx.shape[0])
    return _matvec(jnp.asarray(values), jnp.asarray(idx), jnp.asarray(x))


@jax.jit
def _matvec(values: jax.Array, idx: jax.Array, x: jax.Array) -> jax.Array:
    vals, rows = _masked(values, idx)
    contrib = _expand(vals, x.ndim) * x[:, None]
    return jnp.zeros_like(contrib[:, 0]).at[rows].add(contrib)


def rmatvec(values: jax.Array, idx: jax.Array, x: jax.Array) -> jax.Array:
    r""":math:`U^\top x` for ``x (n,)`` or ``(n, k)``, by a gather.

    :math:`(U^\top x)_j = \sum_k \mathrm{values}_{jk}\, x_{\mathrm{idx}[j,k]}`.
    """
    _check_pair("rmatvec", values, idx)
    _check_vector("rmatvec", "x", x, idx.shape[0])
    return _rmatvec(jnp.asarray(values), jnp.asarray(idx), jnp.asarray(x))


@jax.jit
def _rmatvec(values: jax.Array, idx: jax.Array, x: jax.Array) -> jax.Array:
    vals, rows = _masked(values, idx)
    return jnp.sum(_expand(vals, x.ndim) * x[rows], axis=1)


def diag(values: jax.Array) -> jax.Array:
    """The diagonal :math:`U_{jj}` (the last slot of each row)."""
    return values[:, -1]


def logdet_precision(values: jax.Array) -> jax.Array:
    r""":math:`\log\det(U U^\top) = 2 \sum_j \log U_{jj}` (the diagonal must be positive)."""
    return 2.0 * jnp.sum(jnp.log(values[:, -1]))


def solve(values: jax.Array, idx: jax.Array, b: jax.Array, *, transpose: bool = False) -> jax.Array:
    r"""Solve :math:`U z = b` (or :math:`U^\top z = b` with ``transpose=True``) exactly.

    * ``transpose=False``: backward column sweep, j = n-1, ..., 0:
      :math:`z_j = r_j / U_{jj}`, then :math:`r_i \mathrel{-}= U_{ij} z_j` for
      :math:`i \in S_j \setminus \{j\}` (a scatter).
    * ``transpose=True``: forward sweep, j = 0, ..., n-1:
      :math:`z_j = (b_j - \sum_{i \in S_j\setminus\{j\}} U_{ij} z_i) / U_{jj}` (a gather).
      With :math:`b = \varepsilon \sim \mathcal N(0, I)` this draws
      :math:`z \sim \mathcal N(0, (UU^\top)^{-1})`.

    Both are O(n m) work per right-hand side; ``b`` is ``(n,)`` or ``(n, k)``.
    """
    _check_pair("solve", values, idx)
    check_pattern("probapprox.linalg.solve", "idx", idx)
    _check_vector("solve", "b", b, idx.shape[0])
    return _sweep(jnp.asarray(values), jnp.asarray(idx), jnp.asarray(b), transpose=transpose)


@partial(jax.jit, static_argnames="transpose")
def _sweep(values: jax.Array, idx: jax.Array, b: jax.Array, *, transpose: bool) -> jax.Array:
    """The column sweeps of :func:`solve` (jitted leaf core)."""
    m = idx.shape[1]
    off = (idx >= 0) & (jnp.arange(m) < m - 1)
    vals_off = jnp.where(off, values, 0.0)
    rows = jnp.where(idx >= 0, idx, 0)
    diag_u = values[:, -1]
    cols = jnp.arange(idx.shape[0])
    extra = b.ndim - 1

    if transpose:

        def fwd(z: jax.Array, inp: tuple) -> tuple[jax.Array, None]:
            j, r, v, d, bj = inp
            zj = (bj - jnp.sum(_expand(v, 1 + extra) * z[r], axis=0)) / d
            return z.at[j].set(zj), None

        z0 = jnp.zeros(b.shape, dtype=jnp.result_type(b, values))
        z, _ = lax.scan(fwd, z0, (cols, rows, vals_off, diag_u, b))
        return z

    def bwd(r_acc: jax.Array, inp: tuple) -> tuple[jax.Array, None]:
        j, r, v, d = inp
        zj = r_acc[j] / d
        r_acc = r_acc.at[j].set(zj)
        return r_acc.at[r].add(-_expand(v, 1 + extra) * zj), None

    r0 = b.astype(jnp.result_type(b, values))
    z, _ = lax.scan(bwd, r0, (cols, rows, vals_off, diag_u), reverse=True)
    return z
