r"""Per-example negative log-likelihoods over logits, their gradients and Hessian square roots.

For a categorical likelihood with logits :math:`z \in \mathbb R^C` and probabilities
:math:`p = \operatorname{softmax}(z)`,

.. math::

    \ell(z, y) = \operatorname{logsumexp}(z) - z_y, \qquad
    \nabla_z \ell = p - e_y, \qquad
    \nabla_z^2 \ell = \Lambda = \operatorname{diag}(p) - p p^\top = V^\top V,
    \quad V = \operatorname{diag}(\sqrt p)\,(I - \mathbf 1 p^\top).

For a Bernoulli likelihood (one logit, :math:`C = 1`)
:math:`\ell = \operatorname{softplus}(z) - y z`,
:math:`\nabla_z \ell = \sigma(z) - y` and :math:`V = \sqrt{\sigma(z)(1 - \sigma(z))}`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["LIKELIHOODS", "nll", "residual", "hessian_sqrt"]

LIKELIHOODS = ("categorical", "bernoulli")


def nll(likelihood: str, z: Array, y: Array) -> Array:
    """Negative log-likelihood per example; ``z`` has shape ``(N, C)``, ``y`` shape ``(N,)``."""
    if likelihood == "categorical":
        return jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[:, None], axis=-1)[:, 0]
    return jax.nn.softplus(z[:, 0]) - y.astype(z.dtype) * z[:, 0]


def residual(likelihood: str, z: Array, y: Array) -> Array:
    """Gradient of the NLL with respect to the logits, shape ``(N, C)``."""
    if likelihood == "categorical":
        return jax.nn.softmax(z, axis=-1) - jax.nn.one_hot(y, z.shape[-1], dtype=z.dtype)
    return jax.nn.sigmoid(z) - y.astype(z.dtype)[:, None]


def hessian_sqrt(likelihood: str, z: Array) -> Array:
    r"""Factor :math:`V_n` with :math:`V_n^\top V_n = \nabla_z^2 \ell_n`, shape ``(N, C, C)``."""
    if likelihood == "categorical":
        p = jax.nn.softmax(z, axis=-1)
        eye = jnp.eye(z.shape[-1], dtype=z.dtype)
        return jnp.sqrt(p)[:, :, None] * (eye[None] - p[:, None, :])
    p = jax.nn.sigmoid(z)
    return jnp.sqrt(p * (1.0 - p))[:, :, None]
