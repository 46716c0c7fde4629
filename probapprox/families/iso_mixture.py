r"""Mixtures of isotropic Gaussians: pure JAX maths (no NumPyro).

.. math::
    q(x) = \sum_{j=1}^N w_j\, \mathcal N(x;\, m_j,\, \varepsilon_j I_d),
    \qquad \nabla \log q(x) = -\sum_j r_j(x)\, \frac{x - m_j}{\varepsilon_j},

with responsibilities :math:`r_j(x) = \mathrm{softmax}_j\big(\log w_j
- \|x - m_j\|^2/(2\varepsilon_j) - \tfrac d2 \log \varepsilon_j\big)`, computed with
logsumexp so that it stays finite far from every component. Memory is O(N d).

Parameters are an :class:`IsoMixture` pytree: ``means (N, d)``, ``variances (N,)``
(ε_j > 0) and ``logits (N,)`` (w = softmax(logits); all equal for uniform weights).

Reference:
    Petit-Talamon, Lambert, Korba (2025), "Variational inference with mixtures of
    isotropic Gaussians", NeurIPS (arXiv 2506.13613).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

__all__ = [
    "IsoMixture",
    "weights",
    "component_log_probs",
    "log_prob",
    "responsibilities",
    "score",
    "sample",
    "stratified_sample",
    "entropy",
]

_LOG_2PI = math.log(2.0 * math.pi)  # a Python float: no JAX backend at import


class IsoMixture(NamedTuple):
    """Parameters of an isotropic Gaussian mixture.

    Attributes:
        means: component means ``(N, d)``.
        variances: component variances ε_j ``(N,)``, positive.
        logits: unnormalised log weights ``(N,)``.

    """

    means: jax.Array
    variances: jax.Array
    logits: jax.Array


def weights(mix: IsoMixture) -> jax.Array:
    """Mixture weights ``softmax(logits)``."""
    return jax.nn.softmax(mix.logits)


def component_log_probs(x: jax.Array, mix: IsoMixture) -> jax.Array:
    """``log N(x; m_j, ε_j I)`` for one point ``x (d,)``; returns ``(N,)``."""
    d = x.shape[-1]
    sq = jnp.sum((x - mix.means) ** 2, axis=-1)
    return -0.5 * (sq / mix.variances + d * (jnp.log(mix.variances) + _LOG_2PI))


def log_prob(x: jax.Array, mix: IsoMixture) -> jax.Array:
    """``log q(x)`` for points ``x (..., d)``."""
    log_w = jax.nn.log_softmax(mix.logits)
    flat = x.reshape(-1, x.shape[-1])
    out = jax.vmap(lambda p: logsumexp(log_w + component_log_probs(p, mix)))(flat)
    return out.reshape(x.shape[:-1])


def responsibilities(x: jax.Array, mix: IsoMixture) -> jax.Array:
    """Posterior component probabilities ``r_j(x)`` for one point ``x (d,)``."""
    return jax.nn.softmax(jax.nn.log_softmax(mix.logits) + component_log_probs(x, mix))


def score(x: jax.Array, mix: IsoMixture) -> jax.Array:
    """``∇ log q(x)`` for one point ``x (d,)`` (the mixture score, Prop. 3.1)."""
    r = responsibilities(x, mix)
    return -jnp.sum((r / mix.variances)[:, None] * (x - mix.means), axis=0)


def stratified_sample(key: jax.Array, mix: IsoMixture, num_per_component: int) -> jax.Array:
    """``B`` reparameterised draws from each component: ``x_jb = m_j + √ε_j ξ_jb``.

    Returns:
        ``(N, B, d)``; differentiable in ``means`` and ``variances``.

    """
    n, d = mix.means.shape
    xi = jax.random.normal(key, (n, num_per_component, d), dtype=mix.means.dtype)
    return mix.means[:, None, :] + jnp.sqrt(mix.variances)[:, None, None] * xi


def sample(key: jax.Array, mix: IsoMixture, sample_shape: tuple[int, ...] = ()) -> jax.Array:
    """Draws from q: a component by its weight, then a Gaussian draw; ``(*sample_shape, d)``."""
    k_comp, k_noise = jax.random.split(key)
    n, d = mix.means.shape
    idx = jax.random.categorical(k_comp, mix.logits, shape=sample_shape)
    xi = jax.random.normal(k_noise, (*sample_shape, d), dtype=mix.means.dtype)
    return mix.means[idx] + jnp.sqrt(mix.variances[idx])[..., None] * xi


def entropy(key: jax.Array, mix: IsoMixture, num_per_component: int = 100) -> jax.Array:
    r"""Stratified Monte Carlo estimate of :math:`H(q) = -\sum_j w_j E_{q_j}[\log q]`."""
    x = stratified_sample(key, mix, num_per_component)
    per_component = jnp.mean(log_prob(x, mix), axis=1)
    return -jnp.sum(weights(mix) * per_component)
