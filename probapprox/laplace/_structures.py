r"""Posterior precision structures :math:`P = G + D` (curvature plus diagonal prior precision).

Each structure stores the curvature :math:`G` once and offers

* ``logdet(dvec, scalar)``: :math:`\log\det(G + D)`, differentiable in the prior precisions
  ``dvec`` (shape ``(P,)``); ``scalar=True`` promises ``dvec`` is constant and takes a fast path;
* ``factor(dvec, scalar)``: a square root :math:`S` with :math:`S S^\top = (G + D)^{-1}`,
  applied by ``sqrt_apply(z) = S z`` (sampling) and ``sqrt_t_apply(v) = S^\top v``, with
  ``logit_cov(jac)``: the pushforward :math:`J \Sigma J^\top = (S^\top J^\top)^\top
  (S^\top J^\top)` for the per-example Jacobians of :mod:`probapprox.laplace._jacobians`;
* ``grid_var(jac, grid)``: the logit variances :math:`\operatorname{diag}(J (G + \delta_k
  I)^{-1} J^\top)` for every :math:`\delta_k` of a grid at once, from a decomposition of
  :math:`G` that does not depend on :math:`\delta` (see each structure);
* ``precision(dvec)``: the dense precision, for tests and small problems.

Reference: Daxberger et al. (2021), "Laplace Redux -- Effortless Bayesian Deep Learning".
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.linalg import cho_solve, solve_triangular

__all__ = ["Full", "Diag", "LowRank", "clip_eigenvalues", "sqrt_logit_cov"]


def _col(x: Array, like: Array) -> Array:
    """Reshape a ``(P,)`` vector so it broadcasts against ``like`` of shape ``(P, ...)``."""
    return x.reshape((-1,) + (1,) * (like.ndim - 1))


def sqrt_logit_cov(factor: Any, jac: Any) -> Array:
    r""":math:`(S^\top J_n^\top)^\top (S^\top J_n^\top)` from the dense Jacobians, ``(B, C, C)``."""
    j = jac.dense
    b, c, p = j.shape
    st = factor.sqrt_t_apply(j.reshape(b * c, p).T).T.reshape(b, c, p)
    return jnp.einsum("bcp,bdp->bcd", st, st)


def _clip(evals: Array) -> tuple[Array, Array]:
    tol = evals.shape[0] * jnp.finfo(evals.dtype).eps * jnp.max(jnp.abs(evals))
    return jnp.maximum(evals, 0.0), jnp.sum(evals < -tol)


def clip_eigenvalues(evals: Array) -> tuple[Array, int]:
    """Clip eigenvalues at 0; count those below ``-P * eps * max|lambda|`` (not rounding noise)."""
    clipped, n = _clip_jit(evals)
    return clipped, int(n)


_clip_jit = jax.jit(_clip)


def _eigh_clip(g: Array) -> tuple[Array, Array, Array, int]:
    """Symmetrise, eigendecompose and clip at 0 on the host (LAPACK ``syevd`` via NumPy).

    XLA's CPU ``eigh`` took 25 s on the digits MLP's 1290 x 1290 last-layer GGN where NumPy
    took 4 s (same loaded 2-core machine). The matrix is rebuilt from the clipped
    eigenvalues only when one beyond rounding (``-P * eps * max|lambda|``) was clipped.
    """
    dtype = g.dtype
    a = np.asarray(g)
    a = 0.5 * (a + a.T)
    evals, evecs = np.linalg.eigh(a)
    tol = evals.shape[0] * np.finfo(evals.dtype).eps * np.max(np.abs(evals))
    n = int(np.sum(evals < -tol))
    evals = np.maximum(evals, 0.0)
    if n:
        a = (evecs * evals) @ evecs.T
    return tuple(jnp.asarray(x, dtype) for x in (a, evals, evecs)) + (n,)


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

    logit_cov = sqrt_logit_cov


class EigFactor(NamedTuple):
    r""":math:`S = Q\operatorname{diag}(s)`, :math:`s = (\lambda + \delta)^{-1/2}` (one shared δ).

    With :math:`G = Q\Lambda Q^\top`, :math:`(G + \delta I)^{-1} = Q (\Lambda + \delta I)^{-1}
    Q^\top`, so the pushforward is :math:`(J Q) \operatorname{diag}(s^2) (J Q)^\top`; for the
    last layer :math:`JQ` costs :math:`O(HCP)` per example, not the :math:`O(CP^2)` of a
    triangular solve.
    """

    evecs: Array
    scale: Array

    def sqrt_apply(self, z: Array) -> Array:
        r"""Return :math:`Q (s \odot z)`."""
        return self.evecs @ (_col(self.scale, z) * z)

    def sqrt_t_apply(self, v: Array) -> Array:
        r"""Return :math:`s \odot (Q^\top v)`."""
        w = self.evecs.T @ v
        return _col(self.scale, w) * w

    def covariance(self) -> Array:
        r"""Dense covariance :math:`Q \operatorname{diag}(s^2) Q^\top`."""
        return (self.evecs * self.scale**2) @ self.evecs.T

    def logit_cov(self, jac: Any) -> Array:
        r""":math:`(JQ)\operatorname{diag}(s^2)(JQ)^\top` per example, ``(B, C, C)``."""
        m = jac.matmul(self.evecs) * self.scale
        return jnp.einsum("bcp,bdp->bcd", m, m)


class Full(NamedTuple):
    """Dense curvature ``matrix`` (PSD) with its eigendecomposition ``evals``, ``evecs``."""

    matrix: Array
    evals: Array
    evecs: Array

    @classmethod
    def from_matrix(cls, g: Array, *, clip: bool) -> tuple[Full, int]:
        """Symmetrise, eigendecompose and clip negative eigenvalues at 0 (count if ``clip``)."""
        g, evals, evecs, n = _eigh_clip(g)
        return cls(g, evals, evecs), (n if clip else 0)

    def logdet(self, dvec: Array, *, scalar: bool) -> Array:
        r""":math:`\log\det(G + D)`: :math:`\sum_i \log(\lambda_i + \delta)`."""
        if scalar:
            return jnp.sum(jnp.log(self.evals + dvec[0]))
        chol = jnp.linalg.cholesky(self.precision(dvec))
        return 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))

    def precision(self, dvec: Array) -> Array:
        r"""Dense precision :math:`G + \operatorname{diag}(d)`."""
        return self.matrix + jnp.diag(dvec)

    def factor(self, dvec: Array, *, scalar: bool = False) -> FullFactor | EigFactor:
        """Cholesky factor of the precision; from the eigendecomposition if ``scalar``."""
        if scalar:
            return EigFactor(self.evecs, 1.0 / jnp.sqrt(self.evals + dvec[0]))
        return FullFactor(jnp.linalg.cholesky(self.precision(dvec)))

    def grid_var(self, jac: Any, grid: Array) -> Array:
        r"""Logit variances :math:`\sum_p (JQ)_{cp}^2 / (\lambda_p + \delta_k)`, ``(K, B, C)``."""
        m2 = jac.matmul(self.evecs) ** 2
        return jnp.einsum("bcp,kp->kbc", m2, 1.0 / (self.evals[None, :] + grid[:, None]))


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

    def logit_cov(self, jac: Any) -> Array:
        r""":math:`J \operatorname{diag}(s^2) J^\top`; diagonal for the last layer (no J formed)."""
        if jac.last_layer:
            var = jac.sq_matmul(self.scale[:, None] ** 2)[..., 0]
            return var[..., :, None] * jnp.eye(var.shape[-1], dtype=var.dtype)
        return sqrt_logit_cov(self, jac)


class Diag(NamedTuple):
    """Diagonal curvature ``diag`` (non-negative), shape ``(P,)``."""

    diag: Array

    def logdet(self, dvec: Array, *, scalar: bool) -> Array:  # noqa: ARG002
        r""":math:`\sum_i \log(g_i + d_i)`."""
        return jnp.sum(jnp.log(self.diag + dvec))

    def precision(self, dvec: Array) -> Array:
        """Dense diagonal precision."""
        return jnp.diag(self.diag + dvec)

    def factor(self, dvec: Array, *, scalar: bool = False) -> DiagFactor:  # noqa: ARG002
        """Elementwise inverse square root of the precision."""
        return DiagFactor(1.0 / jnp.sqrt(self.diag + dvec))

    def grid_var(self, jac: Any, grid: Array) -> Array:
        r"""Logit variances :math:`\sum_p J_{cp}^2 / (g_p + \delta_k)`, ``(K, B, C)``."""
        var = jac.sq_matmul(1.0 / (self.diag[:, None] + grid[None, :]))
        return jnp.moveaxis(var, -1, 0)


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

    logit_cov = sqrt_logit_cov


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

    def grid_var(self, jac: Any, grid: Array) -> Array:
        r"""Logit variances for :math:`P = U\Lambda U^\top + \delta I` (orthonormal :math:`U`).

        :math:`P^{-1} = \delta^{-1}\big(I - U\operatorname{diag}(\lambda/(\lambda+\delta))
        U^\top\big)`, so :math:`\operatorname{Var} z_c = \big(\lVert J_c\rVert^2
        - \sum_j (JU)_{cj}^2 \lambda_j/(\lambda_j+\delta)\big)/\delta`; ``(K, B, C)``.
        """
        n2 = jac.sq_matmul(jnp.ones((self.u.shape[0], 1), self.u.dtype))[..., 0]
        m2 = jac.matmul(self.u) ** 2
        shrink = self.lam[None, :] / (self.lam[None, :] + grid[:, None])
        return (n2[None] - jnp.einsum("bcj,kj->kbc", m2, shrink)) / grid[:, None, None]

    def factor(self, dvec: Array, *, scalar: bool = False) -> LowRankFactor:  # noqa: ARG002
        r"""Thin SVD of :math:`D^{-1/2}U\Lambda^{1/2}` (see :class:`LowRankFactor`)."""
        inv_sqrt_d = 1.0 / jnp.sqrt(dvec)
        m = self.u * jnp.sqrt(self.lam) * inv_sqrt_d[:, None]
        q, s, _ = jnp.linalg.svd(m, full_matrices=False)
        return LowRankFactor(inv_sqrt_d, q, 1.0 - 1.0 / jnp.sqrt(1.0 + s**2))
