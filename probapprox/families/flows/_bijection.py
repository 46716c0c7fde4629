r"""The bijection protocol shared by every flow layer.

A layer is a frozen, hashable description (dimension, widths: static under ``jit``)
whose maths take a parameter dict and a *single* point ``x`` of shape ``(D,)``:

* ``init(key, dtype) -> params``: parameters at (or very near) the identity map;
* ``forward(params, x) -> (y, log|det ∂y/∂x|)``;
* ``inverse(params, y) -> x`` (closed form or a guarded 1-D root-find);
* ``inverse_vjp(params, x, y, v) -> v J(x)^{-1}``: a row vector times the inverse
  Jacobian, which carries the score :math:`\nabla \log q` through the layer
  (Vaitl et al. 2024):

.. math::
    g_{l+1} = \big(g_l - \nabla_{x_l} \log|\det J_l(x_l)|\big)\, J_l(x_l)^{-1}.

The default ``inverse_vjp`` differentiates ``inverse`` at ``y`` (``J_f(x)^{-1} =
J_{f^{-1}}(y)``); layers with a Sherman–Morrison form override it.

Reference:
    Vaitl, Winkler, Richter, Kessel (2024), "Fast and unified path gradient estimators
    for normalizing flows", ICLR.
"""

from __future__ import annotations

from typing import Any

import jax

__all__ = ["Bijection", "Params", "score_step"]

Params = dict[str, jax.Array]


class Bijection:
    """Base class of flow layers (see the module docstring for the protocol)."""

    dim: int

    def init(self, key: jax.Array, dtype: Any) -> Params:  # pragma: no cover - abstract
        """Parameters at (or near) the identity map."""
        raise NotImplementedError

    def forward(self, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(y, log|det J|)`` for one point ``x`` of shape ``(D,)``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def inverse(self, params: Params, y: jax.Array) -> jax.Array:
        """``x`` with ``forward(params, x)[0] == y``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def inverse_vjp(self, params: Params, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        """Row vector ``v`` times ``J(x)^{-1}`` (default: VJP of ``inverse`` at ``y``)."""
        del x
        _, vjp = jax.vjp(lambda t: self.inverse(params, t), y)
        return vjp(v)[0]


def score_step(
    layer: Bijection, params: Params, x: jax.Array, g: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Push ``x`` and its score ``g = ∇ log q_l(x)`` through ``layer``.

    Returns:
        ``(y, log|det J(x)|, ∇_y log q_{l+1}(y))``.

    """

    def logdet(t: jax.Array) -> tuple[jax.Array, jax.Array]:
        y, ld = layer.forward(params, t)
        return ld, y

    (ld, y), grad_ld = jax.value_and_grad(logdet, has_aux=True)(x)
    return y, ld, layer.inverse_vjp(params, x, y, g - grad_ld)
