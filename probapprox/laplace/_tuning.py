r"""Grid search of the prior precision on validation NLL of the mean-field predictive.

The mean-field (a.k.a. laplace-torch "probit") approximation of the predictive is
:math:`p(y = c \mid x) \approx \operatorname{softmax}_c\big(\mu / \sqrt{1 + \tfrac\pi8
\operatorname{diag}\Sigma}\big)` (sigmoid for one logit); MacKay (1992), Daxberger et al. (2021).

It reads only the logit variances :math:`\operatorname{diag}(J (G + \delta I)^{-1} J^\top)`.
Each structure writes them through a decomposition of :math:`G` that does not depend on
:math:`\delta` (``grid_var`` in :mod:`probapprox.laplace._structures` and
:mod:`probapprox.laplace._kron`), so the Jacobian products of a validation batch are computed
once and every grid value costs one small matrix product: the whole grid is one jitted
:func:`jax.lax.scan` over validation batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.laplace._jacobians import Jacobians

__all__ = ["mean_field_nll", "grid_nll"]

_LAMBDA0 = jnp.pi / 8.0  # the mean-field constant of probapprox.logits (Lu et al. 2020)


def mean_field_nll(
    mean: Array, var: Array, y: Array, likelihood: str, weights: Array | None = None
) -> Array:
    """Summed (optionally weighted) mean-field NLL; ``mean`` and ``var`` are ``(N, C)``."""
    z = mean / jnp.sqrt(1.0 + _LAMBDA0 * var)
    if likelihood == "categorical":
        nll = -jnp.take_along_axis(jax.nn.log_softmax(z, axis=-1), y[:, None], axis=-1)[:, 0]
    else:
        nll = jax.nn.softplus(z[:, 0]) - y.astype(z.dtype) * z[:, 0]
    return jnp.sum(nll if weights is None else weights * nll)


@functools.partial(jax.jit, static_argnums=(0, 1))
def grid_nll(
    f: Callable[[Array, Array], Array],
    likelihood: str,
    curv: Any,
    theta: Array,
    inputs: Array,
    y: Array,
    idx: Array,
    mask: Array,
    grid: Array,
) -> Array:
    r"""Validation NLL for :math:`P = G + \delta_k I`, every :math:`\delta_k` of ``grid``, ``(K,)``.

    Args:
        f: The flat model's logits (hashable; static).
        likelihood: ``"categorical"`` or ``"bernoulli"``.
        curv: The curvature structure (a pytree with ``grid_var``).
        theta: The MAP, ``(P,)``.
        inputs: Validation inputs of ``f``.
        y: Validation labels.
        idx: Padded batch indices ``(nb, B)``; ``mask`` marks the real rows.
        mask: ``(nb, B)`` 0/1 weights.
        grid: Prior precisions, ``(K,)``.

    """

    def batch(total: Array, im: tuple[Array, Array]) -> tuple[Array, None]:
        i, m = im
        xb, yb = inputs[i], y[i]
        mean = f(theta, xb)
        var = curv.grid_var(Jacobians(f, theta, xb), grid)  # (K, B, C)
        nll = jax.vmap(lambda v: mean_field_nll(mean, v, yb, likelihood, m))(var)
        return total + nll, None

    return jax.lax.scan(batch, jnp.zeros(grid.shape, theta.dtype), (idx, mask))[0]
