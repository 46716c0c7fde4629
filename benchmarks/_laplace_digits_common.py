"""Shared pieces of ``bench_laplace_digits.py``: configurations, timing, the MAP, metrics.

The benchmark itself is described in ``bench_laplace_digits.py``.
"""

from __future__ import annotations

import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import optax.tree_utils as otu  # noqa: E402

import probapprox.laplace as pl  # noqa: E402
from probapprox import logits as plg  # noqa: E402

SIZES = (64, 128, 128, 10)
NET = pl.MLP(jnp.tanh)
FEAT = jax.jit(NET.features)
CONFIGS = [("last_layer", st, p) for st in ("kron", "diag", "full") for p in ("marglik", "grid")]
CONFIGS += [("all", st, p) for st in ("kron", "diag") for p in ("marglik", "grid")]
CONFIGS += [("all", "diag", "marglik-layerwise")]
QUICK_CONFIGS = [("last_layer", "kron", "marglik")]
# KL to the Monte Carlo reference (a 1e5-draw full-covariance reference costs ~100 s per
# 500-row split here): these configurations for ours, the first one for laplace-torch.
KL_CONFIGS = (("last_layer", "kron", "marglik"), ("all", "kron", "marglik"))
KL_CONFIGS += (("all", "diag", "marglik"),)
METHODS = ("sigma_points", "mean_field", "probit", "laplace_bridge", "mc", "nn")
CLOSED = ("sigma_points", "mean_field", "probit", "laplace_bridge", "mc")
# our laplace_bridge rows use correction="zero_sum", the one laplace-torch's "bridge" computes
BRIDGE_OPTS = {"correction": "zero_sum"}
# the README's recommended last-layer one-liner and laplace-torch's default (for the Pareto check)
RECOMMENDED = (("last_layer", "full", "marglik"), "mean_field")
PEER_DEFAULT = (("last_layer", "kron", "marglik"), "glm/probit")
DETERMINISTIC = ("mean_field", "laplace_bridge")  # with a laplace-torch counterpart
STOCHASTIC = ("mc", "nn")
# our predictive -> laplace-torch (pred_type/link_approx) computing the same quantity
PEER_OF = {"mean_field": "glm/probit", "laplace_bridge": "glm/bridge", "mc": "glm/mc"}
PEER_OF["nn"] = "nn/mc"
GRID_SIZE = 100  # prior precisions 10^-4..10^4 in the grid search (both libraries)


class CompileClock:
    """Seconds XLA spent compiling (``jax.monitoring`` backend-compile events)."""

    def __init__(self):
        self.seconds, self.count = 0.0, 0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **_):
        if event.endswith("backend_compile_duration"):
            self.seconds += duration
            self.count += 1


CLOCK = CompileClock()


def timed(fn, repeats, compiles=None):
    """``(last result, first-call seconds, median seconds of repeats further calls)``.

    With a dict ``compiles``, also store the XLA compile seconds and count per later call.
    """
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    times, c0, n0 = [], CLOCK.seconds, CLOCK.count
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    if compiles is not None:
        compiles["warm_compile_s"] = (CLOCK.seconds - c0) / repeats
        compiles["warm_compiles"] = (CLOCK.count - n0) / repeats
    return out, first, statistics.median(times)


def grid_size(cfg):  # noqa: ARG001
    """Grid values of a grid-search configuration (the same for every subset)."""
    return GRID_SIZE


def repeats(cfg, args, *, peer=False):
    """Timing repeats: fewer for laplace-torch's slow paths (its grid and all-weight rows)."""
    slow = peer and (cfg[2] == "grid" or cfg[0] == "all")
    return args.slow_repeats if slow else args.repeats


def row_key(r):
    return (r["subset"], r["structure"], r["prior"])


def ce_sum(params, x, y):
    z = NET(params, x)
    return jnp.sum(jax.nn.logsumexp(z, -1) - jnp.take_along_axis(z, y[:, None], -1)[:, 0])


def train_map(x, y, args):
    """Full-batch Adam then L-BFGS on Σ CE + ½‖θ‖² (prior precision δ₀ = 1)."""
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss(p):
        return ce_sum(p, x, y) + 0.5 * otu.tree_sum(jax.tree.map(lambda a: jnp.sum(a**2), p))

    adam = optax.adam(optax.cosine_decay_schedule(1e-2, args.adam_steps))

    @jax.jit
    def run_adam(p):
        def step(c, _):
            p, s = c
            u, s = adam.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, adam.init(p)), None, length=args.adam_steps)[0][0]

    lbfgs, vg = optax.lbfgs(), optax.value_and_grad_from_state(loss)

    @jax.jit
    def run_lbfgs(p):
        def step(c):
            p, s = c
            v, g = vg(p, state=s)
            u, s = lbfgs.update(g, s, p, value=v, grad=g, value_fn=loss)
            return optax.apply_updates(p, u), s

        def more(c):
            k, g = otu.tree_get(c[1], "count"), otu.tree_get(c[1], "grad")
            return (k == 0) | ((k < args.lbfgs_steps) & (otu.tree_norm(g) > 1e-6))

        p, s = jax.lax.while_loop(more, step, (p, lbfgs.init(p)))
        return p, otu.tree_get(s, "count")

    t = time.perf_counter()
    p = pl.mlp_init(jax.random.PRNGKey(args.seed), SIZES, jnp.float64)
    p = run_adam(p)
    loss_adam = float(loss(p))
    iters = 0
    if args.lbfgs_steps:
        p, iters = run_lbfgs(p)
    info = {
        "adam_steps": args.adam_steps,
        "lbfgs_iterations": int(iters),
        "loss_after_adam": loss_adam,
        "loss": float(loss(p)),
        "grad_norm": float(otu.tree_norm(jax.grad(loss)(p))),
        "seconds": time.perf_counter() - t,
        "prior_precision": 1.0,
    }
    return p, info


def metrics(probs, labels):
    probs, labels = jnp.asarray(probs, jnp.float64), jnp.asarray(labels)
    fns = {"acc": plg.accuracy, "nll": plg.nll, "ece": plg.ece, "brier": plg.brier}
    return {k: float(f(probs, labels)) for k, f in fns.items()}


def kl(p, q):
    """Mean over rows of KL(p ‖ q)."""
    p, q = np.asarray(p), np.maximum(np.asarray(q), 1e-300)
    return float(
        np.mean(np.sum(np.where(p > 0, p * (np.log(np.maximum(p, 1e-300)) - np.log(q)), 0), -1))
    )
