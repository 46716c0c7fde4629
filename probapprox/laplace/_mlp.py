r"""A minimal dense network in the format the Laplace tools understand.

Parameters are a list of layers ``[{"W": (d_in, d_out), "b": (d_out,)}, ...]``; hidden layers
apply ``activation`` and the last layer is linear:
:math:`h_0 = x,\ h_l = \sigma(h_{l-1} W_l + b_l),\ z = h_{L-1} W_L + b_L`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["MLP", "mlp_init", "mlp_apply", "mlp_features"]


def mlp_init(key: Array, sizes: Sequence[int], dtype: jnp.dtype = jnp.float32) -> list[dict]:
    """Glorot-normal weights and zero biases for layer widths ``sizes = (d_in, ..., C)``."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {
            "W": jax.random.normal(k, (i, o), dtype) * jnp.sqrt(2.0 / (i + o)).astype(dtype),
            "b": jnp.zeros((o,), dtype),
        }
        for k, i, o in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def mlp_features(
    params: Sequence[dict], X: Array, activation: Callable[[Array], Array] = jnp.tanh
) -> Array:
    """Features :math:`h_{L-1}` fed to the last layer, shape ``(N, H)``."""
    h = X
    for layer in params[:-1]:
        h = activation(h @ layer["W"] + layer["b"])
    return h


def mlp_apply(
    params: Sequence[dict], X: Array, activation: Callable[[Array], Array] = jnp.tanh
) -> Array:
    """Logits ``(N, C)`` of the network."""
    last = params[-1]
    return mlp_features(params, X, activation) @ last["W"] + last["b"]


@dataclasses.dataclass(frozen=True)
class MLP:
    """Dense network ``apply_fn`` with a known activation (needed for all-layer KFAC).

    ``MLP(activation)(params, X)`` equals :func:`mlp_apply`; ``MLP.features`` equals
    :func:`mlp_features`. Frozen and hashable, so jitted Laplace cores are reused across fits.
    """

    activation: Callable[[Array], Array] = jnp.tanh

    def __call__(self, params: Sequence[dict], X: Array) -> Array:
        """Logits ``(N, C)``."""
        return mlp_apply(params, X, self.activation)

    def features(self, params: Sequence[dict], X: Array) -> Array:
        """Last-layer features ``(N, H)``."""
        return mlp_features(params, X, self.activation)
