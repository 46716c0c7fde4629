"""The network section of ``bench_logit_predictives.py``: KL and time on real Laplace Gaussians.

The digits MLP of ``bench_laplace_digits.py`` (same MAP: ``train_map`` of
``_laplace_digits_common``) is fitted with ``pa.laplace.fit_laplace`` (GGN, marglik prior
precision) for ``CONFIGS``; each configuration's logit Gaussians on the 500 test rows and on
the 30°-rotated test rows are the inputs. Every softmax predictive is scored by the mean
KL(p_ref ‖ p) from a ``ref_samples``-draw Monte Carlo reference (another key); the
last-layer KFAC test Gaussians are also timed (median of ``repeats`` calls after one warm-up
call, the Gaussian given).
"""

from __future__ import annotations

import statistics
import time
import types

import jax
import numpy as np
from _laplace_digits_common import FEAT, NET, kl, train_map

import probapprox.laplace as pl
from probapprox import logits as plg
from probapprox.models.digits import shift_digits, split_digits

CONFIGS = (
    ("last_layer", "kron"),
    ("last_layer", "diag"),
    ("last_layer", "full"),
    ("all", "kron"),
    ("all", "diag"),
)
BRIDGES = ("zero_sum", "none", "sum_norm", "mean_norm")
REF_KEY, MC_KEY = 7, 1


def methods(*, quick: bool) -> dict:
    """``{name: (method, options)}`` of the softmax predictives compared."""
    out = {f"sigma_points-{n}": ("sigma_points", {"num_points": n}) for n in (128, 256, 512)}
    for s in (100, 1000):
        out[f"mc-{s}"] = ("mc", {"key": jax.random.PRNGKey(MC_KEY), "num_samples": s})
    out["mean_field"] = ("mean_field", {})
    out["mean_field pairwise"] = ("mean_field", {"pairwise": True})
    for corr in BRIDGES:
        out[f"laplace_bridge {corr}"] = ("laplace_bridge", {"correction": corr})
    if quick:
        out.pop("sigma_points-128")
    return out


def gaussians(args) -> dict:
    """``{(subset, structure, split): (mean, cov)}`` from the digits MLP's marglik Laplaces."""
    split = split_digits(args.seed)
    x, y = (np.asarray(a) for a in split["train"])
    xt = np.asarray(split["test"][0])
    steps = types.SimpleNamespace(
        adam_steps=200 if args.quick else 2000,
        lbfgs_steps=0 if args.quick else 1000,
        seed=args.seed,
    )
    params, _ = train_map(x, y, steps)
    out = {}
    for subset, structure in CONFIGS[:1] if args.quick else CONFIGS:
        extra = {"kron_bias": "separate"} if structure == "kron" else {}
        lap = pl.fit_laplace(
            NET, params, x, y, structure=structure, subset=subset,
            feature_fn=FEAT if subset == "last_layer" else None, prior_precision=1.0, **extra,
        ).optimize_prior_precision("marglik")  # fmt: skip
        for name, xs in (("test", xt), ("shift", shift_digits(xt, degrees=30.0))):
            out[subset, structure, name] = tuple(np.asarray(a) for a in lap.logits(xs))
    return out


def _median_seconds(fn, repeats):
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def network_section(args) -> dict:
    """KL table rows ``{config/split: {method: KL}}`` and the timing of the first config."""
    table, timing = {}, {}
    preds = methods(quick=args.quick)
    for (subset, structure, split), (mean, cov) in gaussians(args).items():
        key = jax.random.PRNGKey(REF_KEY)
        ref = np.asarray(plg.predictive(mean, cov, "mc", key=key, num_samples=args.ref_samples))
        row = {}
        for name, (method, opts) in preds.items():
            row[name] = kl(ref, np.asarray(plg.predictive(mean, cov, method, **opts)))
        table[f"{subset}/{structure}/{split}"] = row
        print(f"network {subset}/{structure}/{split} done", flush=True)
        if (subset, structure, split) == ("last_layer", "kron", "test"):
            for name, (method, opts) in preds.items():
                timing[name] = _median_seconds(
                    lambda m=method, o=opts, g=(mean, cov): plg.predictive(*g, m, **o), args.repeats
                )
    return {"kl": table, "seconds_last_layer_kron_test": timing}


def network_lines(res: dict) -> list[str]:
    table, timing = res["kl"], res["seconds_last_layer_kron_test"]
    cols = list(table)
    names = list(next(iter(table.values())))
    mc = timing["mc-1000"]
    lines = [
        "## Softmax predictives on the digits MLP's Laplace logit Gaussians: mean KL(MC-ref ‖ p)",
        "",
        "Columns: subset/structure/split (marglik prior precision; shift = 30°-rotated test). "
        "Seconds: 500 last-layer KFAC test rows (median), and the ratio to mc-1000.",
        "",
        "| method | " + " | ".join(cols) + " | seconds | ×mc-1000 |",
        "|---|" + "---|" * (len(cols) + 2),
    ]
    for name in names:
        vals = " | ".join(f"{table[c][name]:.2g}" for c in cols)
        lines.append(f"| {name} | {vals} | {timing[name]:.4f} | {timing[name] / mc:.3f} |")
    best = {c: min((n for n in names if not n.startswith("mc")), key=table[c].get) for c in cols}
    lines += ["", "Best deterministic method per column: "]
    lines[-1] += ", ".join(f"{c}: {n}" for c, n in best.items())
    bridge = {b: float(np.mean([table[c][f"laplace_bridge {b}"] for c in cols])) for b in BRIDGES}
    lines.append(
        "Mean KL of each bridge correction over the columns: "
        + ", ".join(f"{b} {v:.3g}" for b, v in bridge.items())
    )
    for c in [c for c in cols if c.startswith("last_layer/kron")]:
        sp, ref = table[c]["sigma_points-512"], table[c]["mc-1000"]
        lines.append(
            f"Acceptance {c}: sigma_points-512 KL {sp:.2g} ≤ mc-1000 {ref:.2g}: {sp <= ref}; "
            f"time ratio {timing['sigma_points-512'] / mc:.3f} ≤ 0.1: "
            f"{timing['sigma_points-512'] / mc <= 0.1}"
        )
    return lines
