r"""Posterior precision structures :math:`P = G + D` (curvature plus diagonal prior precision).

Each structure stores the curvature :math:`G` once and offers

* ``logdet(dvec, scalar)``: :math:`\log\det(G + D)`, differentiable in the prior precisions
  ``dvec`` (shape ``(P,)``); ``scalar=True`` promises ``dvec`` is constant and takes a fast path;
* ``factor(dvec)``: a square root :math:`S` with :math:`S S^\top = (G + D)^{-1}`, applied by
  ``sqrt_apply(z) = S z`` (sampling) and ``sqrt_t_apply(v) = S^\top v`` (pushforwards
  :math:`J \Sigma J^\top = (S^\top J^\top)^\top (S^\top J^\top)`);
* ``precision(dvec)``: the dense precision, for tests and small problems.

Reference: Daxberger et al. (2021), "Laplace Redux -- Effortless Bayesian Deep Learning".
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.linalg import cho_solve, solve_triangular

__all__ = ["Full", "Diag", "LowRank", "clip_eigenvalues"]


def _col(x: Array, like: Array) -> Array:
    """Reshape a ``(P,)`` vector so it broadcasts against ``like`` of shape ``(P, ...)``."""
    return x.reshape((-1,) + (1,) * (like.ndim - 1))


def _clip(evals: Array) -> tuple[Array, Array]:
    tol = evals.shape[0] * jnp.finfo(evals.dtype).eps * jnp.max(jnp.abs(evals))
    return jnp.maximum(evals, 0.0), jnp.sum(evals < -tol)


def clip_eigenvalues(evals: Array) -> tuple[Array, int]:
    """Clip eigenvalues at 0; count those below ``-P * eps * max|lambda|`` (not rounding noise)."""
    clipped, n = _clip_jit(evals)
    return clipped, int(n)


_clip_jit = jax.jit(_clip)


@jax.jit
def _eigh_clip(g: Array) -> tuple[Array, Array, Array, Array]:
    g = 0.5 * (g + g.T)
    evals, evecs = jnp.linalg.eigh(g)
    evals, n = _clip(evals)
    return (evecs * evals) @ evecs.T, evals, evecs, n


class FullFactor(NamedTuple):
    r"""Cholesky factor ``L`` of the precision :math:`LL^\top`; :math:`S = L^{-\top}`."""

    chol: Array

    def sqrt_apply(self, z: Array) -> Array:
        r"""Return :math:`L^{-\top} z`."""
        return solve_triangular(self.chol.T, z, lower=False)

    def sqrt_t_apply(self, v: Array) -> Array:
        """Return :math:`L^{-1} v`."""
        return solve_triangular(self.chol, v, lower=True)

    def covariance(self) -> Array:
        r"""Dense posterior covariance :math:`(LL^\top)^{-1}` by Cholesky solves."""
        return cho_solve((self.chol, True), jnp.eye(self.chol.shape[0], dtype=self.chol.dtype))


class Full(NamedTuple):
    """Dense curvature ``matrix`` (PSD) with its eigendecomposition ``evals``, ``evecs``."""

    matrix: Array
    evals: Array
    evecs: Array

    @classmethod
    def from_matrix(cls, g: Array, *, clip: bool) -> tuple[Full, int]:
        """Symmetrise, eigendecompose and clip negative eigenvalues at 0 (count if ``clip``)."""
        g, evals, evecs, n = _eigh_clip(g)
        return cls(g, evals, evecs), (int(n) if clip else 0)

    def logdet(self, dvec: Array, *, scalar: bool) -> Array:
        r""":math:`\log\det(G + D)`: :math:`\sum_i \log(\lambda_i + \delta)`."""
        if scalar:
            return jnp.sum(jnp.log(self.evals + dvec[0]))
        chol = jnp.linalg.cholesky(self.precision(dvec))
        return 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))

    def precision(self, dvec: Array) -> Array:
        r"""Dense precision :math:`G + \operatorname{diag}(d)`."""
        return self.matrix + jnp.diag(dvec)

    def factor(self, dvec: Array) -> FullFactor:
        """Cholesky factor of the precision."""
        return FullFactor(jnp.linalg.cholesky(self.precision(dvec)))


class DiagFactor(NamedTuple):
    r""":math:`S = \operatorname{diag}(s)` with :math:`s = (g + d)^{-1/2}`."""

    scale: Array

    def sqrt_apply(self, z: Array) -> Array:
        r"""Return :math:`s \odot z`."""
        return _col(self.scale, z) * z

    sqrt_t_apply = sqrt_apply

    def covariance(self) -> Array:
        """Dense diagonal covariance."""
        return jnp.diag(self.scale**2)


class Diag(NamedTuple):
    """Diagonal curvature ``diag`` (non-negative), shape ``(P,)``."""

    diag: Array

    def logdet(self, dvec: Array, *, scalar: bool) -> Array:  # noqa: ARG002
        r""":math:`\sum_i \log(g_i + d_i)`."""
        return jnp.sum(jnp.log(self.diag + dvec))

    def precision(self, dvec: Array) -> Array:
        """Dense diagonal precision."""
        return jnp.diag(self.diag + dvec)

    def factor(self, dvec: Array) -> DiagFactor:
        """Elementwise inverse square root of the precision."""
        return DiagFactor(1.0 / jnp.sqrt(self.diag + dvec))


class LowRankFactor(NamedTuple):
    r"""Square root of :math:`(U\Lambda U^\top + D)^{-1}`.

    With :math:`M = D^{-1/2} U \Lambda^{1/2} = Q\,\operatorname{diag}(s)\,R^\top` (thin SVD),
    :math:`U\Lambda U^\top + D = D^{1/2}(I + Q s^2 Q^\top) D^{1/2}` and
    :math:`(I + Q s^2 Q^\top)^{-1/2} = I - Q\,\operatorname{diag}(1 - (1+s^2)^{-1/2})\,Q^\top`,
    so :math:`S = D^{-1/2}(I - Q c Q^\top)` is an exact (symmetric-core) square root.
    """

    inv_sqrt_d: Array
    q: Array
    c: Array

    def _core(self, v: Array) -> Array:
        qv = self.q.T @ v
        return v - self.q @ (_col(self.c, qv) * qv)

    def sqrt_apply(self, z: Array) -> Array:
        """Return :math:`S z`."""
        return _col(self.inv_sqrt_d, z) * self._core(z)

    def sqrt_t_apply(self, v: Array) -> Array:
        r"""Return :math:`S^\top v`."""
        return self._core(_col(self.inv_sqrt_d, v) * v)

    def covariance(self) -> Array:
        r"""Dense covariance :math:`S S^\top`."""
        s = self.sqrt_apply(jnp.eye(self.q.shape[0], dtype=self.q.dtype))
        return s @ s.T


class LowRank(NamedTuple):
    r"""Top-``k`` eigenpairs of the curvature: :math:`G \approx U \Lambda U^\top`."""

    u: Array
    lam: Array

    def logdet(self, dvec: Array, *, scalar: bool) -> Array:
        r"""Determinant lemma for :math:`\log|U\Lambda U^\top + D|`.

        :math:`\log|U\Lambda U^\top + D|
        = \log|D| + \log|I + \Lambda^{1/2}U^\top D^{-1}U\Lambda^{1/2}|`.
        """
        if scalar:
            d = dvec[0]
            return dvec.shape[0] * jnp.log(d) + jnp.sum(jnp.log1p(self.lam / d))
        m = self.u * jnp.sqrt(self.lam) / jnp.sqrt(dvec)[:, None]
        inner = jnp.eye(m.shape[1], dtype=m.dtype) + m.T @ m
        chol = jnp.linalg.cholesky(inner)
        return jnp.sum(jnp.log(dvec)) + 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))

    def precision(self, dvec: Array) -> Array:
        r"""Dense precision :math:`U\Lambda U^\top + D`."""
        return (self.u * self.lam) @ self.u.T + jnp.diag(dvec)

    def factor(self, dvec: Array) -> LowRankFactor:
        r"""Thin SVD of :math:`D^{-1/2}U\Lambda^{1/2}` (see :class:`LowRankFactor`)."""
        inv_sqrt_d = 1.0 / jnp.sqrt(dvec)
        m = self.u * jnp.sqrt(self.lam) * inv_sqrt_d[:, None]
        q, s, _ = jnp.linalg.svd(m, full_matrices=False)
        return LowRankFactor(inv_sqrt_d, q, 1.0 - 1.0 / jnp.sqrt(1.0 + s**2))
