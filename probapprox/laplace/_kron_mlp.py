r"""KFAC for every dense layer of an :class:`~probapprox.laplace.MLP` (``subset="all"``).

For layer :math:`l` with augmented input :math:`\tilde a_{l-1} = [a_{l-1}; 1]` and
pre-activation :math:`s_l`, the block is :math:`A_l \otimes B_l` with
:math:`A_l = \sum_n \tilde a_{l-1,n}\tilde a_{l-1,n}^\top` and
:math:`B_l = \frac1N\sum_n J_{s_l,n}^\top \Lambda_n J_{s_l,n}`,
:math:`J_{s_l} = \partial z/\partial s_l` (``ggn``), or
:math:`\frac1N\sum_n g_{s_l,n} g_{s_l,n}^\top`, :math:`g_{s_l} = J_{s_l}^\top\nabla_z\ell` (``ef``);
see :mod:`probapprox.laplace._kron`. Each block is exact when :math:`N = 1`.
:math:`J_{s_l}` is obtained by differentiating the logits with respect to a zero perturbation
added to :math:`s_l`. Reference: Martens & Grosse (2015); Botev, Ritter & Barber (2017).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.laplace._curvature import _scan
from probapprox.laplace._kron import Kron, kron_block
from probapprox.laplace._network import FlatModel, Unravel
from probapprox.laplace._nll_derivatives import hessian_sqrt, residual

__all__ = ["layer_terms", "mlp_kron"]


def _forward(params: list, x: Array, eps: list, activation: Callable) -> tuple[Array, list]:
    """Logits of one input with perturbed pre-activations, and each layer's augmented input."""
    h, inputs = x, []
    for i, layer in enumerate(params):
        inputs.append(jnp.concatenate([h, jnp.ones((1,), h.dtype)]))
        s = h @ layer["W"] + layer["b"] + eps[i]
        h = activation(s) if i < len(params) - 1 else s
    return h, inputs


def layer_terms(params: list, xb: Array, activation: Callable) -> tuple[Array, list, list]:
    r"""Per-example logits, augmented layer inputs and pre-activation Jacobians of a batch.

    Returns:
        ``z`` ``(B, C)``; ``ins``: per layer :math:`\tilde a_{l-1}` ``(B, d_{l-1} + 1)``;
        ``jacs``: per layer :math:`J_{s_l} = \partial z/\partial s_l` ``(B, C, d_l)`` (one
        reverse pass per logit and example; the last one is the identity).

    """
    eps = [jnp.zeros_like(layer["b"]) for layer in params]

    def one(x: Array) -> tuple:
        z, ins = _forward(params, x, eps, activation)
        jacs = jax.jacrev(lambda e: _forward(params, x, e, activation)[0])(eps)
        return z, ins, jacs

    return jax.vmap(one)(xb)


@dataclasses.dataclass(frozen=True)
class _Body:
    unravel: Unravel
    activation: Callable
    likelihood: str
    curvature: str

    def __call__(self, th: Array, xb: Array, yb: Array, m: Array) -> tuple:
        z, ins, jacs = layer_terms(self.unravel(th), xb, self.activation)
        if self.curvature == "ggn":
            v = hessian_sqrt(self.likelihood, z)
            rows = [jnp.einsum("bkc,bch->bkh", v, j) * m[:, None, None] for j in jacs]
            b_sums = [jnp.einsum("bkh,bkg->hg", r, r) for r in rows]
        else:
            r = residual(self.likelihood, z, yb) * m[:, None]
            grads = [jnp.einsum("bc,bch->bh", r, j) for j in jacs]
            b_sums = [g.T @ g for g in grads]
        a_sums = [jnp.einsum("bi,bj->ij", a * m[:, None], a) for a in ins]
        return tuple(a_sums), tuple(b_sums)


def mlp_kron(
    model: FlatModel, y: Array, likelihood: str, curvature: str, activation: Callable, *,
    batch_size: int, bias: str = "joint",
) -> Kron:  # fmt: skip
    """Block-diagonal KFAC over the layers of a dense network (one block per layer).

    ``bias="separate"``: separate weight and bias blocks (see :mod:`probapprox.laplace._kron`).
    """
    params = model.unravel(model.theta)
    dt = model.theta.dtype
    init = (
        tuple(jnp.zeros((lay["W"].shape[0] + 1,) * 2, dt) for lay in params),
        tuple(jnp.zeros((lay["W"].shape[1],) * 2, dt) for lay in params),
    )
    body = _Body(model.unravel, activation, likelihood, curvature)
    a_sums, b_sums = _scan(model, y, batch_size, body, init)
    n = y.shape[0]
    return _blocks(a_sums, b_sums, n, separate_bias=bias == "separate")


@functools.partial(jax.jit, static_argnames=("separate_bias",))
def _blocks(a_sums: tuple, b_sums: tuple, n: Array, *, separate_bias: bool) -> Kron:
    """All layers' factor eigendecompositions in one compiled program."""
    return Kron(
        tuple(
            kron_block(a, b / n, separate_bias=separate_bias)
            for a, b in zip(a_sums, b_sums, strict=True)
        )
    )
