"""Explain a non-finite loss or gradient in the user's terms (model sites, parameters).

Runs once, on the host, after the loop has stopped at the failing step. The
step is replayed with the same RNG key as the loss used, and every sample
site's log-density (and its gradient with respect to the guide parameters)
is checked, so the message can name the site that produced the non-finite
value rather than only the parameter that received it.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from jax import random
from numpyro import handlers

__all__ = [
    "NonFiniteError",
    "NonFiniteWarning",
    "explain_nonfinite",
    "find_problems",
    "report_skipped",
]


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became non-finite during a fit.

    Attributes:
        step: index of the failing step (0-based).
        sites: model or guide sites found to produce non-finite values.
        parameters: guide parameters whose gradient was non-finite.

    """

    def __init__(self, message: str, step: int, sites: list[str], parameters: list[str]) -> None:
        super().__init__(message)
        self.step = step
        self.sites = sites
        self.parameters = parameters


class NonFiniteWarning(UserWarning):
    """Steps were skipped (``skip_nonfinite=True``): their loss or gradient was not finite."""


def _site_log_probs(
    svi: Any, params_u: Any, key: jax.Array, args: tuple, kwargs: dict, latents: dict | None = None
) -> dict:
    """Per-site summed log-densities of one ELBO particle (guide and model), as a dict.

    If ``latents`` is given, the model's latent values of this draw are stored in it.
    """
    params = svi.constrain_fn(params_u)
    model_seed, guide_seed = random.split(key)
    kw = dict(kwargs, **svi.static_kwargs)
    guide = handlers.substitute(handlers.seed(svi.guide, guide_seed), data=params)
    gtr = handlers.trace(guide).get_trace(*args, **kw)
    model = handlers.replay(handlers.substitute(handlers.seed(svi.model, model_seed), params), gtr)
    mtr = handlers.trace(model).get_trace(*args, **kw)
    out = {}
    for where, tr in (("guide", gtr), ("model", mtr)):
        for name, site in tr.items():
            if site["type"] != "sample":
                continue
            lp = site["fn"].log_prob(site["value"])
            if site.get("scale") is not None:
                lp = site["scale"] * lp
            val_ok = jnp.all(jnp.isfinite(jnp.asarray(site["value"], dtype=float)))
            out[(where, name, bool(site["is_observed"]))] = (jnp.sum(lp), val_ok)
            if latents is not None and where == "model" and not site["is_observed"]:
                latents[name] = site["value"]
    return out


def _format_latents(latents: dict) -> str:
    """Short ``name=value`` list of the small latent sites of a draw."""
    parts = [
        f"{n}={np.array2string(np.asarray(v), precision=4, threshold=8)}"
        for n, v in latents.items()
        if np.size(v) <= 8
    ]
    return ", ".join(parts)


def find_problems(
    svi: Any, params_u: Any, rng_key: jax.Array, args: tuple, kwargs: dict
) -> tuple[dict[tuple[str, str], str], dict]:
    """Replay the step whose pre-step key is ``rng_key``; name the sites that are not finite.

    Returns:
        ``({(where, site): message}, latents of the offending draw)``.

    """
    _, rng_step = random.split(rng_key)
    num_particles = int(getattr(svi.loss, "num_particles", 1))
    keys = [rng_step] + list(random.split(rng_step, num_particles))
    problems: dict[tuple[str, str], str] = {}
    latents: dict = {}
    for key in keys:
        latents.clear()
        try:
            with numpyro.validation_enabled(False):
                lps = _site_log_probs(svi, params_u, key, args, kwargs, latents)
                # one gradient per site, so a NaN in one site's backward pass does not leak
                grads = {
                    site: jax.grad(
                        lambda p, key=key, site=site: _site_log_probs(svi, p, key, args, kwargs)[
                            site
                        ][0]
                    )(params_u)
                    for site in lps
                }
        except Exception as err:  # noqa: BLE001 - diagnosis must never mask the real error
            problems.setdefault(("", ""), f"tracing the model raised {type(err).__name__}: {err}")
            continue
        for (where, name, observed), (lp, val_ok) in lps.items():
            label, pkey = f"{where} site '{name}'", (where, name)
            kind = "likelihood" if observed else "log-density"
            if not bool(val_ok):
                problems.setdefault(
                    pkey, f"{label} has a non-finite value (its constraining transform overflows)"
                )
            elif not bool(jnp.isfinite(lp)):
                problems.setdefault(pkey, f"{label} has a non-finite {kind} ({float(lp)})")
            else:
                g = grads[(where, name, observed)]
                if not all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(g)):
                    problems.setdefault(pkey, f"{label} has a non-finite gradient of its {kind}")
        if problems:
            break
    return problems, dict(latents)


def explain_nonfinite(
    svi: Any, svi_state: Any, step: int, bad_leaves: np.ndarray, args: tuple, kwargs: dict
) -> NonFiniteError:
    """Build the error for a loop that stopped at ``step`` with state ``svi_state``."""
    params_u = svi.optim.get_params(svi_state.optim_state)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params_u)[0]]
    names = [p.strip("[]'\"") for p in paths]
    bad_params = [n for n, b in zip(names, np.asarray(bad_leaves), strict=False) if b]
    problems, latents = find_problems(svi, params_u, svi_state.rng_key, args, kwargs)

    sites = list(dict.fromkeys(name for _, name in problems if name))
    lines = [f"Non-finite loss or gradient at step {step}."]
    if problems:
        lines += ["  " + msg for msg in problems.values()]
        shown = _format_latents(latents)
        if shown:
            lines.append(f"  Latent values of that draw (constrained): {shown}.")
    if bad_params:
        lines.append("  Parameters with a non-finite gradient: " + ", ".join(bad_params) + ".")
    lines.append(
        "Check the model at these sites (e.g. a scale that can reach 0, an exp that overflows, "
        "data outside the support), lower the step size, or pass skip_nonfinite=True to skip "
        "such steps."
    )
    return NonFiniteError("\n".join(lines), step=step, sites=sites, parameters=bad_params)


def report_skipped(
    svi: Any, log: Any, num_skipped: int, num_steps: int, args: tuple, kwargs: dict
) -> dict[str, int]:
    """Replay the logged skipped steps; count, per site, how many of them it broke, and warn.

    Returns:
        ``{"where site": count}`` over the replayed steps (at most ``SKIP_LOG_SIZE``).

    """
    steps = np.asarray(log["step"])
    counts: dict[str, int] = {}
    replayed = 0
    for j in np.flatnonzero(steps >= 0):
        params_u = jax.tree.map(lambda x, j=j: x[j], log["params"])
        problems, _ = find_problems(svi, params_u, log["rng_key"][j], args, kwargs)
        replayed += 1
        for where, name in problems:
            label = f"{where} site '{name}'" if name else "the model trace"
            counts[label] = counts.get(label, 0) + 1
    found = ", ".join(f"{k} in {v}" for k, v in counts.items()) or "no site (the optimiser?)"
    warnings.warn(
        f"probapprox.fit skipped {num_skipped} of {num_steps} steps whose loss or gradient was "
        f"not finite. Replaying the first {replayed}: {found}. Overflowing constraining "
        "transforms usually mean the guide puts mass far in the tails (try the default "
        "warm_start, a smaller step size, or a narrower init_scale).",
        NonFiniteWarning,
        stacklevel=5,
    )
    return counts
