r"""A normalizing flow: a base distribution pushed through a chain of bijections.

.. math::
    z = T_K \circ \dots \circ T_1(\varepsilon), \quad \varepsilon \sim q_0, \qquad
    \log q(z) = \log q_0(\varepsilon) - \sum_k \log|\det J_{T_k}(x_{k-1})|.

``sample_with_score`` also carries :math:`g = \nabla_z \log q(z)` forward through the
layers with no inverse pass (Vaitl et al. 2024), which is what the sticking-the-landing
estimator needs for flows whose inverse is numerical (planar). ``log_prob`` at arbitrary
points runs the inverses.

Parameters are a dict ``{"base": {...}, group: {...}}`` with one group per layer.

References:
    Rezende, Mohamed (2015), ICML; Vaitl, Winkler, Richter, Kessel (2024), ICLR.

"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from probapprox.families.flows._base import NormalBase, StudentTBase
from probapprox.families.flows._bijection import Bijection, Params, score_step
from probapprox.families.flows._elementwise import FixedAffine
from probapprox.families.flows._init_rng import split

__all__ = ["Flow", "FlowParams"]

FlowParams = dict[str, Params]


@dataclass(frozen=True)
class Flow:
    """Static description: ``base`` and named ``layers`` (applied in order)."""

    base: NormalBase | StudentTBase
    layers: tuple[tuple[str, Bijection], ...]

    @property
    def dim(self) -> int:
        """Dimension ``D``."""
        return self.base.dim

    def init(self, key: jax.Array, dtype: Any = jnp.float32) -> FlowParams:
        """Parameters with every layer at (or near) the identity.

        A concrete ``key`` draws them on the host (no compilation; see :mod:`._init_rng`),
        a traced one with ``jax.random``; either way the leaves are ``dtype`` JAX arrays.
        """
        keys = split(key, len(self.layers) + 1)
        params = {"base": self.base.init(keys[0], dtype)}
        for k, (name, layer) in zip(keys[1:], self.layers, strict=True):
            params[name] = layer.init(k, dtype)
        return jax.tree.map(lambda a: jnp.asarray(a, dtype), params)

    def then_fixed(self, *, dense: bool) -> Flow:
        """The flow followed by a :class:`FixedAffine` group ``"outer"`` (built once)."""
        cache = self.__dict__.setdefault("_then_fixed", {})  # frozen dataclass: not a field
        if dense not in cache:
            outer = ("outer", FixedAffine(self.dim, dense))
            cache[dense] = Flow(self.base, (*self.layers, outer))
        return cache[dense]

    def forward(self, params: FlowParams, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(T(x), log|det J_T(x)|)`` for one base point ``x`` of shape ``(D,)``."""
        total = jnp.zeros((), x.dtype)
        for name, layer in self.layers:
            x, ld = layer.forward(params[name], x)
            total = total + ld
        return x, total

    def inverse(self, params: FlowParams, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(T^{-1}(z), log|det J_T(T^{-1}(z))|)`` for one point ``z`` of shape ``(D,)``."""
        for name, layer in reversed(self.layers):
            z = layer.inverse(params[name], z)
        x = z
        return x, self.forward(params, x)[1]

    def _with_score(
        self, params: FlowParams, x: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        g = self.base.score(params["base"], x)
        log_q = self.base.log_prob(params["base"], x)
        for name, layer in self.layers:
            x, ld, g = score_step(layer, params[name], x, g)
            log_q = log_q - ld
        return x, log_q, g

    def sample_and_log_prob(
        self, params: FlowParams, key: jax.Array, shape: tuple[int, ...] = ()
    ) -> tuple[jax.Array, jax.Array]:
        """Draws ``z`` of shape ``shape + (D,)`` and ``log q(z)`` (no inverse needed)."""
        eps = self._base_draws(params, key, shape)
        z, ld = _batched(lambda e: self.forward(params, e), eps)
        return z, self.base.log_prob(params["base"], eps) - ld

    def sample_with_score(
        self, params: FlowParams, key: jax.Array, shape: tuple[int, ...] = ()
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Draws ``z``, ``log q(z)`` and the score ``∇_z log q(z)``, all forward."""
        eps = self._base_draws(params, key, shape)
        return _batched(lambda e: self._with_score(params, e), eps)

    def sample_with_base(
        self, params: FlowParams, key: jax.Array, shape: tuple[int, ...] = ()
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Draws ``z``, ``log q(z)`` and the base draws ``ε`` they came from (forward only)."""
        eps = self._base_draws(params, key, shape)
        z, ld = _batched(lambda e: self.forward(params, e), eps)
        return z, self.base.log_prob(params["base"], eps) - ld, eps

    def score_from_base(self, params: FlowParams, eps: jax.Array) -> jax.Array:
        """``∇_z log q(z)`` at ``z = T(ε)`` for base draws ``ε`` of shape ``(..., D)``."""
        return _batched(lambda e: self._with_score(params, e)[2], eps)

    def log_prob(self, params: FlowParams, z: jax.Array) -> jax.Array:
        """``log q(z)`` at arbitrary points ``z`` of shape ``(..., D)`` (runs the inverses)."""

        def one(t: jax.Array) -> jax.Array:
            x, ld = self.inverse(params, t)
            return self.base.log_prob(params["base"], x) - ld

        return _batched(one, z)

    def _base_draws(self, params: FlowParams, key: jax.Array, shape: tuple[int, ...]) -> Any:
        dtype = _param_dtype(params)
        return self.base.sample(params["base"], key, tuple(shape), dtype)


def _param_dtype(params: FlowParams) -> Any:
    leaves = jax.tree.leaves(params)
    return leaves[0].dtype if leaves else jnp.float32


def _batched(fn: Any, x: jax.Array) -> Any:
    """Apply a single-point function over the leading dimensions of ``x``."""
    lead = x.shape[:-1]
    flat = x.reshape((math.prod(lead), x.shape[-1]))
    out = jax.vmap(fn)(flat)
    return jax.tree.map(lambda a: a.reshape(lead + a.shape[1:]), out)
