r"""Per-example Jacobians of the logits of a batch, exposed through the products we need.

For inputs :math:`x_1..x_B`, :math:`J_n = \partial f(\theta_*, x_n)/\partial\theta`
(:math:`C\times P`). The linearised predictive and the prior-precision grid need only

* ``dense()``: all :math:`J_n`, ``(B, C, P)`` (one reverse pass per logit and example);
* ``matmul(M)``: :math:`J_n M` for a ``(P, k)`` matrix, ``(B, C, k)``;
* ``sq_matmul(R)``: :math:`(J_n \circ J_n) R`, i.e. :math:`\sum_p J_{n,cp}^2 R_{pk}`;
* ``layers()``: the Kronecker pieces of each dense layer :math:`l`,
  :math:`J_{n,l} = \tilde a_{n,l-1}^\top \otimes J_{s_l,n}` (augmented input and
  :math:`\partial z/\partial s_l`).

For the last layer (``subset="last_layer"``) :math:`J_n = \tilde\phi_n^\top \otimes I_C`
with :math:`\tilde\phi_n = [\phi_n; 1]` in the row-major ``vec`` of :math:`[W; b^\top]`, so
:math:`J_n M = \sum_h \tilde\phi_{n,h} M_{(h,\cdot),k}`: :math:`O(HCk)` per example instead
of :math:`O(CPk) = O(HC^2k)`, and no Jacobian is formed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.laplace._kron_mlp import layer_terms
from probapprox.laplace._mlp import MLP
from probapprox.laplace._network import AllLogits, LastLayerLogits

__all__ = ["Jacobians"]


class Jacobians:
    """Per-example Jacobians of ``f(theta, xb)`` (built inside a jitted function)."""

    def __init__(self, f: Callable[[Array, Array], Array], theta: Array, xb: Array) -> None:
        """Store the batch; nothing is computed until a product is asked for."""
        self.f, self.theta, self.xb = f, theta, xb
        self.last_layer = isinstance(f, LastLayerLogits)

    @functools.cached_property
    def phi_tilde(self) -> Array:
        r"""Augmented last-layer features :math:`[\phi; 1]`, ``(B, H + 1)``."""
        return jnp.concatenate([self.xb, jnp.ones((self.xb.shape[0], 1), self.xb.dtype)], 1)

    def _blocks(self, mat: Array) -> Array:
        """``(P, k)`` as ``(H + 1, C, k)`` (the last-layer ravel order)."""
        return mat.reshape(self.phi_tilde.shape[1], -1, mat.shape[-1])

    @functools.cached_property
    def dense(self) -> Array:
        """All Jacobians, ``(B, C, P)``."""

        def f1(th: Array, x: Array) -> Array:
            return self.f(th, x[None])[0]

        return jax.vmap(jax.jacrev(f1), (None, 0))(self.theta, self.xb)

    def matmul(self, mat: Array) -> Array:
        """:math:`J_n M`, ``(B, C, k)``."""
        if self.last_layer:
            return jnp.einsum("bh,hck->bck", self.phi_tilde, self._blocks(mat))
        return self.dense @ mat

    def sq_matmul(self, mat: Array) -> Array:
        r""":math:`(J_n\circ J_n) M`, ``(B, C, k)``."""
        if self.last_layer:
            return jnp.einsum("bh,hck->bck", self.phi_tilde**2, self._blocks(mat))
        return self.dense**2 @ mat

    def layers(self) -> tuple[list[Array], list[Array | None]]:
        r"""Per dense layer: :math:`\tilde a_{l-1}` ``(B, d + 1)`` and :math:`J_{s_l}` (None: I)."""
        if self.last_layer:
            return [self.phi_tilde], [None]
        if isinstance(self.f, AllLogits) and isinstance(self.f.apply_fn, MLP):
            params = self.f.unravel(self.theta)
            _, ins, jacs = layer_terms(params, self.xb, self.f.apply_fn.activation)
            return list(ins), [*jacs[:-1], None]  # the last layer's dz/ds is the identity
        raise NotImplementedError("Kronecker layers need the last layer or an MLP network.")
