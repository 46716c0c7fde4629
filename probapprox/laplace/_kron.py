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

which is exact for :math:`N = 1`. ``bias="separate"`` zeroes the weight–bias entries of
:math:`A` (:math:`A = \operatorname{blockdiag}(\sum_n a_n a_n^\top, N)`), i.e. separate blocks
:math:`A_W \otimes B` for the weights and the exact :math:`N B` for the bias (the convention of
laplace-torch's KFAC backends); the default ``"joint"`` keeps Martens & Grosse's homogeneous
coordinates. For the last layer :math:`J_s = I` and :math:`B` is the mean
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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.linalg import block_diag

__all__ = ["BIAS_MODES", "Kron", "KronBlock", "kron_block"]


class KronBlock(NamedTuple):
    r"""Eigendecompositions of the two factors of one block :math:`A \otimes B`."""

    qa: Array
    a: Array
    qb: Array
    b: Array


BIAS_MODES = ("joint", "separate")


def kron_block(a_mat: Array, b_mat: Array, *, separate_bias: bool = False) -> KronBlock:
    """Eigendecompose symmetric PSD factors, clipping rounding negatives at 0.

    With ``separate_bias`` the last row and column of ``a_mat`` (the bias input 1) are zeroed
    off the diagonal first.
    """
    if separate_bias:
        d = a_mat.shape[0] - 1
        keep = jnp.ones_like(a_mat).at[d, :d].set(0.0).at[:d, d].set(0.0)
        a_mat = a_mat * keep
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

    def logit_cov(self, jac: Any) -> Array:
        r"""Closed-form :math:`J\Sigma J^\top` per example from the layers' Kronecker pieces.

        For layer :math:`l`, :math:`J_l = \tilde a^\top \otimes J_s`, so with
        :math:`u = Q_a^\top\tilde a` and :math:`V = J_s Q_b`,
        :math:`J_l\Sigma_l J_l^\top = V\operatorname{diag}(w)V^\top`,
        :math:`w_j = \sum_i u_i^2/(a_i b_j + \delta_l)`: :math:`O(d_{in}^2 + d_{in}d_{out}
        + C d_{out}^2)` per example and layer, without forming :math:`J`. ``(B, C, C)``.
        """
        ins, jacs = jac.layers()
        cov = 0.0
        for blk, d, a_t, j_s in zip(self.blocks, self.deltas, ins, jacs, strict=True):
            w = (a_t @ blk.qa) ** 2 @ (1.0 / (jnp.outer(blk.a, blk.b) + d))
            if j_s is None:  # the last layer: J_s = I
                cov = cov + jnp.einsum("cj,bj,dj->bcd", blk.qb, w, blk.qb)
            else:
                v = j_s @ blk.qb
                cov = cov + jnp.einsum("bcj,bj,bdj->bcd", v, w, v)
        return cov


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

    def factor(self, dvec: Array, *, scalar: bool = False) -> KronFactor:  # noqa: ARG002
        """The factor :class:`KronFactor` (prior precision constant within each block)."""
        return KronFactor(self.blocks, self._deltas(dvec))

    def grid_var(self, jac: Any, grid: Array) -> Array:
        r"""Logit variances for every :math:`\delta_k`, ``(K, B, C)``.

        :math:`\operatorname{Var} z_c = \sum_l \sum_j V_{l,cj}^2 \sum_i u_{l,i}^2 /
        (a_{l,i} b_{l,j} + \delta_k)` (see :meth:`KronFactor.logit_cov`); the eigenpairs of
        the factors are computed once, at the fit.
        """
        ins, jacs = jac.layers()
        var = 0.0
        for blk, a_t, j_s in zip(self.blocks, ins, jacs, strict=True):
            r = 1.0 / (jnp.outer(blk.a, blk.b)[None] + grid[:, None, None])
            w = jnp.einsum("bi,kij->kbj", (a_t @ blk.qa) ** 2, r)
            if j_s is None:  # the last layer: J_s = I
                var = var + jnp.einsum("cj,kbj->kbc", blk.qb**2, w)
            else:
                var = var + jnp.einsum("bcj,kbj->kbc", (j_s @ blk.qb) ** 2, w)
        return var


@functools.partial(jax.jit, static_argnames=("likelihood", "curvature", "bias"))
def last_layer_kron(
    z: Array, phi: Array, y: Array, likelihood: str, curvature: str, bias: str = "joint"
) -> Kron:
    r"""KFAC of the last layer from its logits ``z`` ``(N, C)`` and features ``phi`` ``(N, H)``.

    :math:`A = \sum_n \tilde\phi_n\tilde\phi_n^\top` and :math:`B = \frac1N\sum_n \Lambda_n`
    (``ggn``) or :math:`\frac1N\sum_n r_n r_n^\top`, :math:`r_n = \nabla_z \ell_n` (``ef``).
    """
    from probapprox.laplace._nll_derivatives import hessian_sqrt, residual

    phi_t = jnp.concatenate([phi, jnp.ones((phi.shape[0], 1), phi.dtype)], axis=1)
    if curvature == "ggn":
        v = hessian_sqrt(likelihood, z)
        b_mat = jnp.einsum("nkc,nkd->cd", v, v)
    else:
        r = residual(likelihood, z, y)
        b_mat = r.T @ r
    sep = bias == "separate"
    return Kron((kron_block(phi_t.T @ phi_t, b_mat / z.shape[0], separate_bias=sep),))
