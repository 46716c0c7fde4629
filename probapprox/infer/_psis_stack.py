r"""A PSIS-weighted stack of several fitted runs of one guide: :math:`q = \sum_k \pi_k q_k`.

Draw :math:`S` times from each run, i.e. from the equal mixture :math:`\bar q = K^{-1}\sum_k
q_k` (stratified), and weight each draw by :math:`r_s = p(x, \theta_s)/\bar q(\theta_s)`,
Pareto-smoothed. The stacking weight of run :math:`k` is the share of the normalised weight
carried by its draws,

.. math::
    \pi_k = \sum_{s \in k} \tilde r_s \Big/ \sum_s \tilde r_s ,

so runs on separate modes get the modes' masses, and :math:`m` runs on the same mode share that
mode's mass (the mixture density in :math:`r_s` corrects for the duplicates). Evaluating
:math:`\bar q` needs every run's density at every other run's draws: the guide is replayed
with its sample sites (auxiliary ones included) fixed to the draw. Guides whose density cannot
be evaluated at a given point (e.g. flows without an inverse) cannot be stacked.

Reference: Yao, Vehtari, Gelman (2022), "Stacking for non-mixing Bayesian computations: the
curse and blessing of multimodal posteriors", JMLR 23; Elvira et al. (2019), "Generalized
multiple importance sampling", Statist. Sci. 34(1) (the balance heuristic).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import numpyro.distributions as dist
from jax import random
from jax.scipy.special import logsumexp
from numpyro import handlers
from numpyro.infer.util import log_density

from probapprox.diagnostics import psis
from probapprox.infer._draws import Draws, latent_sites
from probapprox.infer._plan import split_args

__all__ = ["Stack", "make_stack_sampler", "stack_weights"]


class Stack(NamedTuple):
    r"""Several runs of one guide and their stacking weights.

    Attributes:
        params: per run, the guide's parameters (model coordinates).
        weights: stacking weights :math:`\pi_k`, shape ``(K,)``, summing to one.

    """

    params: list[dict[str, Any]]
    weights: np.ndarray


def _fns(model: Callable | None, guide: Any, args: tuple, kwargs: dict) -> tuple:
    names = latent_sites(guide)
    dynamic, rebuild = split_args(args, kwargs)

    def draw(key: jax.Array, params: Any, dyn: list) -> dict:
        a, kw = rebuild(dyn)
        k_guide, k_model = random.split(key)
        tr = handlers.trace(handlers.substitute(handlers.seed(guide, k_guide), params))
        gtr = tr.get_trace(*a, **kw)
        # Delta sites (AutoContinuous' constrained copies) follow from the others exactly
        values = {
            n: s["value"]
            for n, s in gtr.items()
            if s["type"] == "sample" and not isinstance(s["fn"], dist.Delta)
        }
        out = {"values": values, "latent": {n: gtr[n]["value"] for n in names}}
        if model is not None:
            log_p, mtr = log_density(handlers.seed(model, k_model), a, kw, out["latent"])
            out["log_p"] = log_p
            out["deterministic"] = {
                n: s["value"] for n, s in mtr.items() if s["type"] == "deterministic"
            }
        return out

    def cross(values: dict, params: Any, dyn: list) -> jax.Array:
        a, kw = rebuild(dyn)
        seeded = handlers.seed(guide, random.PRNGKey(0))
        return log_density(handlers.substitute(seeded, data=values), a, kw, params)[0]

    draws = jax.jit(lambda keys, p, dyn: jax.lax.map(lambda k: draw(k, p, dyn), keys))
    log_q = jax.jit(lambda vals, p, dyn: jax.lax.map(lambda v: cross(v, p, dyn), vals))
    return draws, log_q, dynamic


def _draw_all(
    model: Any, guide: Any, args: tuple, kwargs: dict, params: list, counts: list, seed: int
) -> tuple[list[dict], np.ndarray]:
    """Draws from each run and the matrix ``log q_k(θ_s)`` (runs × all draws)."""
    draws, log_q, dynamic = _fns(model, guide, args, kwargs)
    key = random.PRNGKey(seed)
    outs = [
        jax.device_get(draws(random.split(random.fold_in(key, k), n), p, dynamic))
        for k, (p, n) in enumerate(zip(params, counts, strict=True))
        if n > 0
    ]
    values = jax.tree.map(lambda *xs: np.concatenate(xs), *[o["values"] for o in outs])
    matrix = np.stack([np.asarray(log_q(values, p, dynamic)) for p in params])
    return outs, matrix


def stack_weights(
    model: Callable, guide: Any, args: tuple, kwargs: dict, params: list, num_draws: int, seed: int
) -> tuple[np.ndarray, float]:
    """Stacking weights of the runs ``params`` and the PSIS k̂ of the mixture's weights."""
    k = len(params)
    outs, matrix = _draw_all(model, guide, args, kwargs, params, [num_draws] * k, seed)
    log_p = np.concatenate([o["log_p"] for o in outs])
    log_mix = np.asarray(logsumexp(matrix, axis=0)) - np.log(k)
    log_w = log_p - log_mix
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    res = psis(log_w)
    w = np.exp(res.log_weights).reshape(k, num_draws).sum(axis=1)
    return w / w.sum(), res.pareto_k


def make_stack_sampler(
    model: Callable | None, guide: Any, args: tuple, kwargs: dict, stack: Stack
) -> Callable[[int, int, Any], Draws]:
    """``sampler(num_samples, seed, params) -> Draws`` from the stack (``params`` is ignored)."""
    log_w = np.log(np.maximum(stack.weights, 1e-300))

    def sampler(num_samples: int, seed: int, params: Any) -> Draws:
        del params
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(num_samples, stack.weights / stack.weights.sum())
        outs, matrix = _draw_all(model, guide, args, kwargs, stack.params, list(counts), seed)
        order = rng.permutation(num_samples)

        def cat(key: str) -> dict:
            return {n: np.concatenate([o[key][n] for o in outs])[order] for n in outs[0][key]}

        log_q = np.asarray(logsumexp(matrix + log_w[:, None], axis=0))[order]
        log_p = np.concatenate([o["log_p"] for o in outs])[order] if model is not None else None
        return Draws(
            latent=cat("latent"),
            deterministic=cat("deterministic") if model is not None else {},
            log_q=log_q,
            log_p=log_p,
        )

    return sampler
