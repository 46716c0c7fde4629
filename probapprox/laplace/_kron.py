r"""Kronecker-factored (KFAC) curvature of dense layers.

For a dense layer :math:`s = W^\top a + b` with augmented input :math:`\tilde a = [a; 1]` and
parameters ordered as the row-major :math:`\operatorname{vec}` of :math:`\tilde W = [W; b^\top]`
(``ravel_pytree({"W": W, "b": b})``), the per-example Jacobian of :math:`s` is
:math:`\tilde a^\top \otimes I`, so the exact GGN block is
:math:`\sum_n (\tilde a_n \tilde a_n^\top) \otimes (J_{s,n}^\top \Lambda_n J_{s,n})`.
KFAC replaces the sum of products by a product of sums,

.. math::

    G \approx A \otimes B, \qquad A = \sum_n \tilde a_n \tilde a_n^\top, \qquad
    B = \frac1N \sum_n J_{s,n}^\top \Lambda_n J_{s,n},

which is exact for :math:`N = 1`. For the last layer :math:`J_s = I` and :math:`B` is the mean
softmax Hessian (or, for ``ef``, the mean outer product of logit gradients). With
:math:`A = Q_a \operatorname{diag}(a) Q_a^\top`, :math:`B = Q_b \operatorname{diag}(b) Q_b^\top`,

.. math::

    (A \otimes B + \delta I)^{-1/2}
    = (Q_a \otimes Q_b)\operatorname{diag}(a \otimes b + \delta)^{-1/2},
    \qquad \log\det(A \otimes B + \delta I) = \textstyle\sum_{ij} \log(a_i b_j + \delta).

Reference: Martens & Grosse (2015), "Optimizing Neural Networks with Kronecker-factored
Approximate Curvature", ICML; Ritter, Botev & Barber (2018), "A Scalable Laplace Approximation
for Neural Networks", ICLR.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.linalg import block_diag

__all__ = ["Kron", "KronBlock", "kron_block"]


class KronBlock(NamedTuple):
    r"""Eigendecompositions of the two factors of one block :math:`A \otimes B`."""

    qa: Array
    a: Array
    qb: Array
    b: Array


def kron_block(a_mat: Array, b_mat: Array) -> KronBlock:
    """Eigendecompose symmetric PSD factors, clipping rounding negatives at 0."""
    a, qa = jnp.linalg.eigh(0.5 * (a_mat + a_mat.T))
    b, qb = jnp.linalg.eigh(0.5 * (b_mat + b_mat.T))
    return KronBlock(qa, jnp.maximum(a, 0.0), qb, jnp.maximum(b, 0.0))


def _starts(blocks: tuple[KronBlock, ...]) -> list[int]:
    sizes = [blk.a.shape[0] * blk.b.shape[0] for blk in blocks]
    return [int(s) for s in np.concatenate([[0], np.cumsum(sizes)])]


class KronFactor(NamedTuple):
    r"""Square root of the KFAC posterior covariance.

    :math:`S = \oplus_l (Q_a \otimes Q_b) \operatorname{diag}(a\otimes b+\delta_l)^{-1/2}`.

    One block per layer (``deltas``: the prior precision of each block).
    """

    blocks: tuple[KronBlock, ...]
    deltas: tuple[Array, ...]

    def _apply(self, v: Array, *, transpose: bool) -> Array:
        vec = v.ndim == 1
        v = v[:, None] if vec else v
        starts, out = _starts(self.blocks), []
        for blk, d, s, e in zip(self.blocks, self.deltas, starts[:-1], starts[1:], strict=True):
            scale = 1.0 / jnp.sqrt(jnp.outer(blk.a, blk.b) + d)[..., None]
            z = v[s:e].reshape(blk.a.shape[0], blk.b.shape[0], -1)
            if transpose:
                y = jnp.einsum("ji,jkm,kl->ilm", blk.qa, z, blk.qb) * scale
            else:
                y = jnp.einsum("ij,jkm,lk->ilm", blk.qa, z * scale, blk.qb)
            out.append(y.reshape(e - s, -1))
        res = jnp.concatenate(out, axis=0)
        return res[:, 0] if vec else res

    def sqrt_apply(self, z: Array) -> Array:
        """Return :math:`S z`."""
        return self._apply(z, transpose=False)

    def sqrt_t_apply(self, v: Array) -> Array:
        r"""Return :math:`S^\top v`."""
        return self._apply(v, transpose=True)

    def covariance(self) -> Array:
        r"""Dense covariance :math:`S S^\top`."""
        s = self.sqrt_apply(jnp.eye(_starts(self.blocks)[-1], dtype=self.blocks[0].qa.dtype))
        return s @ s.T

    def last_layer_logit_cov(self, phi_tilde: Array) -> Array:
        r"""Closed-form last-layer :math:`J\Sigma J^\top`, :math:`J = \tilde\phi^\top \otimes I`.

        :math:`J\Sigma J^\top = Q_b \operatorname{diag}(w) Q_b^\top` with
        :math:`w_j = \sum_i (Q_a^\top\tilde\phi)_i^2 / (a_i b_j + \delta)`; ``phi_tilde`` is
        ``(N, H+1)`` and the result ``(N, C, C)``.
        """
        blk, d = self.blocks[-1], self.deltas[-1]
        u2 = (phi_tilde @ blk.qa) ** 2
        w = u2 @ (1.0 / (jnp.outer(blk.a, blk.b) + d))
        return jnp.einsum("ij,nj,kj->nik", blk.qb, w, blk.qb)


class Kron(NamedTuple):
    """Block-diagonal KFAC curvature, one :class:`KronBlock` per dense layer (ravel order)."""

    blocks: tuple[KronBlock, ...]

    def _deltas(self, dvec: Array) -> tuple[Array, ...]:
        return tuple(dvec[s] for s in _starts(self.blocks)[:-1])

    def logdet(self, dvec: Array, *, scalar: bool) -> Array:  # noqa: ARG002
        r""":math:`\sum_l \sum_{ij} \log(a_i b_j + \delta_l)`."""
        return sum(
            jnp.sum(jnp.log(jnp.outer(blk.a, blk.b) + d))
            for blk, d in zip(self.blocks, self._deltas(dvec), strict=True)
        )

    def precision(self, dvec: Array) -> Array:
        r"""Dense precision :math:`\oplus_l A_l \otimes B_l + D`."""
        mats = [
            jnp.kron((blk.qa * blk.a) @ blk.qa.T, (blk.qb * blk.b) @ blk.qb.T)
            for blk in self.blocks
        ]
        return block_diag(*mats) + jnp.diag(dvec)

    def factor(self, dvec: Array) -> KronFactor:
        """The factor :class:`KronFactor` (prior precision constant within each block)."""
        return KronFactor(self.blocks, self._deltas(dvec))


@functools.partial(jax.jit, static_argnames=("likelihood", "curvature"))
def last_layer_kron(z: Array, phi: Array, y: Array, likelihood: str, curvature: str) -> Kron:
    r"""KFAC of the last layer from its logits ``z`` ``(N, C)`` and features ``phi`` ``(N, H)``.

    :math:`A = \sum_n \tilde\phi_n\tilde\phi_n^\top` and :math:`B = \frac1N\sum_n \Lambda_n`
    (``ggn``) or :math:`\frac1N\sum_n r_n r_n^\top`, :math:`r_n = \nabla_z \ell_n` (``ef``).
    """
    from probapprox.laplace._likelihood import hessian_sqrt, residual

    phi_t = jnp.concatenate([phi, jnp.ones((phi.shape[0], 1), phi.dtype)], axis=1)
    if curvature == "ggn":
        v = hessian_sqrt(likelihood, z)
        b_mat = jnp.einsum("nkc,nkd->cd", v, v)
    else:
        r = residual(likelihood, z, y)
        b_mat = r.T @ r
    return Kron((kron_block(phi_t.T @ phi_t, b_mat / z.shape[0]),))
