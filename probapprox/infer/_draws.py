"""Posterior draws with their log-densities, one trace per draw.

Each draw ``s`` uses its own key: the guide is traced with the fitted
parameters to give the latent values θ_s and ``log q(θ_s)``; the model is
then evaluated at θ_s to give ``log p(x, θ_s)`` and the deterministic sites.
Both log-densities are with respect to the same (constrained) θ, exactly as
in ``Trace_ELBO``, so ``log p − log q`` are the importance log-weights of
Yao et al. (2018). The guide part does not need the model's data, which is
what lets a loaded fit sample without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro import handlers
from numpyro.infer.util import log_density

from probapprox._checks import check_int
from probapprox.infer._plan import split_args

__all__ = ["Draws", "latent_sites", "make_sampler"]


class Draws(NamedTuple):
    """Host-side draws.

    Attributes:
        latent: model latent sites, constrained, shape ``(S, *site_shape)``.
        deterministic: deterministic sites (empty without the model's data).
        log_q: ``log q(θ_s)``, shape ``(S,)``.
        log_p: ``log p(x, θ_s)``, shape ``(S,)`` (``None`` without the model's data).

    """

    latent: dict[str, np.ndarray]
    deterministic: dict[str, np.ndarray]
    log_q: np.ndarray
    log_p: np.ndarray | None


def latent_sites(guide: Any) -> list[str]:
    """Names of the model's latent sample sites, in model order (from the guide prototype)."""
    proto = getattr(guide, "prototype_trace", None)
    if proto is None:
        raise ValueError("The guide has not been initialised: fit it (or call it) first.")
    return [n for n, s in proto.items() if s["type"] == "sample" and not s["is_observed"]]


def _one_draw_fn(
    model: Callable | None, guide: Any, names: list[str]
) -> Callable[[jax.Array, Any, tuple, dict], dict]:
    def one(key: jax.Array, params: Any, args: tuple, kwargs: dict) -> dict:
        k_guide, k_model = random.split(key)
        log_q, gtr = log_density(handlers.seed(guide, k_guide), args, kwargs, params)
        latent = {n: gtr[n]["value"] for n in names}
        out = {"latent": latent, "log_q": log_q}
        if model is not None:
            log_p, mtr = log_density(handlers.seed(model, k_model), args, kwargs, latent)
            out["log_p"] = log_p
            out["deterministic"] = {
                n: s["value"] for n, s in mtr.items() if s["type"] == "deterministic"
            }
        return out

    return one


def make_sampler(
    model: Callable | None, guide: Any, args: tuple, kwargs: dict, *, batch_size: int = 512
) -> Callable[[int, int, Any], Draws]:
    """Build ``sampler(num_samples, seed, params) -> Draws`` for fixed model arguments.

    The jitted core evaluates one batch of ``batch_size`` draws (fewer, a power of two, for
    small requests); the host loops over batches and pads the last one. So every request of
    at least ``batch_size`` draws (``sample(1000)``, ``diagnostics(10_000)``, ``to_arviz``)
    runs the same compiled program, and a batch count that does not divide evenly costs no
    second program. The same seed gives the same draws.

    Args:
        model: the model, or ``None`` to skip its evaluation (no data needed).
        guide: an initialised guide.
        args: model positional arguments.
        kwargs: model keyword arguments.
        batch_size: draws evaluated at once (memory control).

    """
    one = _one_draw_fn(model, guide, latent_sites(guide))
    dynamic, rebuild = split_args(args, kwargs)

    @jax.jit
    def run(keys: jax.Array, params: Any, dynamic: list) -> dict:
        a, kw = rebuild(dynamic)
        return jax.vmap(lambda k: one(k, params, a, kw))(keys)

    def sampler(num_samples: int, seed: int, params: Any) -> Draws:
        check_int("FitResult.sample", "num_samples", num_samples)
        keys = random.split(random.PRNGKey(seed), num_samples)
        size = min(batch_size, 1 << (num_samples - 1).bit_length())
        parts = []
        for start in range(0, num_samples, size):
            batch = keys[start : start + size]
            short = size - batch.shape[0]
            if short:  # pad with the batch's own keys; the extra draws are dropped
                batch = jnp.concatenate([batch, jnp.resize(batch, (short, *batch.shape[1:]))])
            out = jax.device_get(run(batch, params, dynamic))
            parts.append(jax.tree.map(lambda x, n=size - short: np.asarray(x)[:n], out))
        out = jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
        return Draws(
            latent=dict(out["latent"]),
            deterministic=dict(out.get("deterministic", {})),
            log_q=out["log_q"],
            log_p=out["log_p"] if "log_p" in out else None,
        )

    sampler.program = run  # type: ignore[attr-defined]  # the compiled core, for tests
    return sampler
