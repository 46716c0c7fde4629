"""Our side of ``bench_laplace_digits.py``: fits, predictives, timings, KL; the MAP rows."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from _laplace_digits_common import (
    BRIDGE_OPTS,
    CLOSED,
    DETERMINISTIC,
    FEAT,
    KL_CONFIGS,
    NET,
    grid_size,
    kl,
    metrics,
    repeats,
    timed,
)
from scipy.optimize import minimize_scalar

import probapprox.laplace as pl
from probapprox import logits as plg


@jax.jit
def _nn_all(draws, x):
    """Mean softmax over weight draws, one network at a time (a scan: no (S, N, H) tensors)."""

    def step(total, w):
        return total + jax.nn.softmax(NET(w, x), -1), None

    first = jax.tree.map(lambda a: a[0], draws)
    total, _ = jax.lax.scan(step, jnp.zeros_like(NET(first, x)), draws)
    return total / jax.tree.leaves(draws)[0].shape[0]


@jax.jit
def _nn_last(draws, phi):
    z = jnp.einsum("nh,shc->snc", phi, draws["W"]) + draws["b"][:, None, :]
    return jnp.mean(jax.nn.softmax(z, -1), 0)


NN_KEY, MC_KEY = 1, 2  # PRNG seeds of the reported nn and mc runs
SPREAD_SEED0 = 1000  # further runs of the spread: SPREAD_SEED0 + i


def nn_predict(lap, x, mc, seed=NN_KEY):
    """The "nn" predictive: mean softmax over ``mc`` weight draws from ``Laplace.sample``."""
    draws = lap.sample(jax.random.PRNGKey(seed), mc)
    if lap.subset == "last_layer":
        return np.asarray(_nn_last(draws, lap.model.to_inputs(x)))
    return np.asarray(_nn_all(draws, x))


def closed_predict(mean, cov, method, mc, seed=MC_KEY):
    opts = {"key": jax.random.PRNGKey(seed), "num_samples": mc} if method == "mc" else {}
    opts = BRIDGE_OPTS if method == "laplace_bridge" else opts
    return np.asarray(plg.predictive(mean, cov, method, **opts))


def mc_spread(lap, moments, d, args):
    """Metrics of the ``mc`` and ``nn`` predictives for ``args.spread`` seeds (run 0: reported).

    The spread across seeds is the Monte Carlo standard deviation of one run's metric.
    """
    seeds = {"mc": [MC_KEY], "nn": [NN_KEY]}
    for m in seeds:
        seeds[m] += [SPREAD_SEED0 + i for i in range(1, args.spread)]
    out = {}
    for m, keys in seeds.items():
        runs = {"test": [], "shift": []}
        for seed in keys:
            for split, x in (("test", d["x_test"]), ("shift", d["x_shift"])):
                if m == "mc":
                    probs = closed_predict(*moments[split], "mc", args.mc, seed)
                else:
                    probs = nn_predict(lap, x, args.mc, seed)
                runs[split].append(metrics(probs, d["y_test"]))
        out[m] = {s: {k: [r[k] for r in v] for k in v[0]} for s, v in runs.items()}
    return out


def at_prior_precision(lap, delta, d, args):
    """Metrics of the predictives with a counterpart at another prior precision (same seeds)."""
    delta = np.ravel(delta)  # laplace-torch: one value (scalar) or one per group
    lap = lap.with_prior_precision(float(delta[0]) if delta.size == 1 else delta)
    moments = {"test": lap.logits(d["x_test"]), "shift": lap.logits(d["x_shift"])}
    out = {
        m: {s: metrics(closed_predict(*moments[s], m, args.mc), d["y_test"]) for s in moments}
        for m in (*DETERMINISTIC, "mc")
    }
    x = {"test": d["x_test"], "shift": d["x_shift"]}
    out["nn"] = {s: metrics(nn_predict(lap, x[s], args.mc), d["y_test"]) for s in x}
    return out


def fit_ours(params, d, cfg, kron_bias):
    subset, structure, prior = cfg
    extra = {"kron_bias": kron_bias} if structure == "kron" else {}
    lap = pl.fit_laplace(
        NET,
        params,
        d["x_train"],
        d["y_train"],
        structure=structure,
        subset=subset,
        feature_fn=FEAT if subset == "last_layer" else None,
        prior_precision=1.0,
        **extra,
    )
    if prior == "grid":
        grid = jnp.logspace(-4, 4, grid_size(cfg))
        lap = lap.optimize_prior_precision("grid", X_val=d["x_val"], y_val=d["y_val"], grid=grid)
    else:
        structure = "layerwise" if prior.endswith("layerwise") else "scalar"
        lap = lap.optimize_prior_precision("marglik", structure=structure)
    jax.block_until_ready((lap.prior_precision, lap.curv))
    return lap


def run_ours(params, d, cfg, args):
    reps = repeats(cfg, args)
    comp = {}
    lap, first, med = timed(lambda: fit_ours(params, d, cfg, args.kron_bias), reps, comp)
    row = {
        "library": "ours",
        "subset": cfg[0],
        "structure": cfg[1],
        "prior": cfg[2],
        "repeats": reps,
        "kron_bias": args.kron_bias if cfg[1] == "kron" else None,
        "grid_size": grid_size(cfg) if cfg[2] == "grid" else None,
        "fit_first_s": first,
        "fit_s": med,
        "prior_precision": np.asarray(lap.prior_precision).tolist(),
        "log_marglik": float(lap.log_marginal_likelihood()),
        "log_marglik_at": {"1.0": float(lap.log_marginal_likelihood(jnp.asarray(1.0)))},
        "predictives": {},
        "kl": {},
    }
    row["fit_warm_compiles"], row["fit_warm_compile_s"] = (
        comp["warm_compiles"],
        comp["warm_compile_s"],
    )
    (mean, cov), lfirst, lmed = timed(lambda: jax.block_until_ready(lap.logits(d["x_test"])), reps)
    shift = lap.logits(d["x_shift"])
    row["logits_first_s"], row["logits_s"] = lfirst, lmed
    for method in CLOSED:
        probs, pfirst, pmed = timed(lambda m=method: closed_predict(mean, cov, m, args.mc), reps)
        row["predictives"][method] = {
            "predict_first_s": lfirst + pfirst,
            "predict_s": lmed + pmed,
            "test": metrics(probs, d["y_test"]),
            "shift": metrics(closed_predict(*shift, method, args.mc), d["y_test"]),
        }
    probs, pfirst, pmed = timed(lambda: nn_predict(lap, d["x_test"], args.mc), reps)
    row["predictives"]["nn"] = {
        "predict_first_s": pfirst,
        "predict_s": pmed,
        "test": metrics(probs, d["y_test"]),
        "shift": metrics(nn_predict(lap, d["x_shift"], args.mc), d["y_test"]),
    }
    if args.spread > 1:
        row["spread"] = mc_spread(lap, {"test": (mean, cov), "shift": shift}, d, args)
    pairs = (("test", (mean, cov)), ("shift", shift))[: 1 if args.quick else 2]
    for split, (m, c) in pairs if cfg in KL_CONFIGS else ():
        ref = plg.predictive(m, c, "mc", key=jax.random.PRNGKey(7), num_samples=args.ref_samples)
        row["kl"][split] = {k: kl(ref, closed_predict(m, c, k, args.mc)) for k in CLOSED}
    return row, lap


def map_rows(params, d):
    def probs(x, t=1.0):
        return np.asarray(jax.nn.softmax(NET(params, jnp.asarray(x)) / t, -1))

    def val_nll(log_t):
        return plg.nll(jnp.asarray(probs(d["x_val"], np.exp(log_t))), d["y_val"]).item()

    temp = float(np.exp(minimize_scalar(val_nll, bounds=(-3, 3), method="bounded").x))
    rows = []
    for name, t in (("MAP", 1.0), ("MAP + temperature", temp)):
        rows.append(
            {
                "library": "ours",
                "subset": "-",
                "structure": "-",
                "prior": "-",
                "method": name,
                "temperature": t,
                "test": metrics(probs(d["x_test"], t), d["y_test"]),
                "shift": metrics(probs(d["x_shift"], t), d["y_test"]),
            }
        )
    return rows
