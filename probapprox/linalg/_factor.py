r"""``PaddedFactor``: a padded sparse upper-triangular factor as one pytree.

The ``(values, idx)`` pair of :mod:`probapprox.linalg._padded` travels together through the
GP code (prior factor U, posterior factor V); this record keeps them together and forwards to
the functional API, so ``u.solve(b, transpose=True)`` is ``solve(u.values, u.idx, b,
transpose=True)``. It is a ``NamedTuple``, hence a JAX pytree (both fields are leaves) that
passes through ``jit``, ``vmap`` and ``grad`` unchanged.

Reference:
    Schäfer, Katzfuss, Owhadi (2021), "Sparse Cholesky factorization by Kullback–Leibler
    minimization", SIAM J. Sci. Comput. 43(3).
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from probapprox.linalg._padded import diag, logdet_precision, matvec, rmatvec, solve, to_dense

__all__ = ["PaddedFactor"]


class PaddedFactor(NamedTuple):
    r"""An upper-triangular :math:`U` stored by columns, representing the precision :math:`UU^\top`.

    Attributes:
        values: ``(n, m)`` with ``values[j, k]`` :math:`= U_{\mathrm{idx}[j,k],\,j}` (0 in
            padded slots).
        idx: ``(n, m)`` int rows of column j's nonzeros, ascending, j last, front-padded -1.

    """

    values: jax.Array
    idx: jax.Array

    def matvec(self, x: jax.Array) -> jax.Array:
        """:math:`U x` (:func:`probapprox.linalg.matvec`)."""
        return matvec(self.values, self.idx, x)

    def rmatvec(self, x: jax.Array) -> jax.Array:
        r""":math:`U^\top x` (:func:`probapprox.linalg.rmatvec`)."""
        return rmatvec(self.values, self.idx, x)

    def solve(self, b: jax.Array, *, transpose: bool = False) -> jax.Array:
        r""":math:`U^{-1} b` or :math:`U^{-\top} b` (:func:`probapprox.linalg.solve`)."""
        return solve(self.values, self.idx, b, transpose=transpose)

    def diag(self) -> jax.Array:
        """The diagonal :math:`U_{jj}`."""
        return diag(self.values)

    def logdet_precision(self) -> jax.Array:
        r""":math:`\log\det(UU^\top)`."""
        return logdet_precision(self.values)

    def to_dense(self) -> jax.Array:
        """The dense ``(n, n)`` factor."""
        return to_dense(self.values, self.idx, self.idx.shape[0])
