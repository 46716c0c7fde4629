"""Time to result: default ``pa.fit`` (+ diagnostics) against plain ``SVI.run``, end to end.

Issue 18 item 3: the default single-guide path (warm start, stopping rule, diagnostics) should
cost at most 1.5x ``SVI.run(progress_bar=False)`` with the same guide and step budget,
compilation included. For each bundled model and guide (``AutoMultivariateNormal``,
``AutoNormal``), interleaved over ``--repeats`` rounds in fresh guides (so every program is
traced and compiled again, as in a new session):

* ``pa.fit``: ``pa.fit(model, guide, *args, progress=False)`` (all defaults: warm start,
  stopping rule, ``num_steps=5000`` cap) followed by ``result.diagnostics()`` (10⁴ draws,
  PSIS k̂): what a user runs to get a checked answer;
* ``SVI.run``: ``SVI(model, guide, optim, loss).run(key, 5000, progress_bar=False)`` with the
  estimator and optimiser ``pa.fit`` picks for that guide (so the per-step cost is the same
  and the ratio measures the overhead and savings of ``pa.fit`` itself).

Medians are reported with the split of ``pa.fit``'s time (warm start, loop, diagnostics, the
rest) and the machine load. Writes ``benchmarks/results/time_to_result.json``.

Run: ``.venv/bin/python benchmarks/bench_time_to_result.py [--repeats 3] [--models a,b]
[--guides AutoNormal]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from numpyro.infer import SVI  # noqa: E402
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.models import get_model  # noqa: E402

GUIDES = {"AutoMultivariateNormal": AutoMultivariateNormal, "AutoNormal": AutoNormal}
DEFAULT_MODELS = ("linear_regression", "eight_schools", "logistic_regression", "banana")
NUM_STEPS = 5000


def run_pa(bm, guide_cls, seed):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pa.fit(bm.model, guide_cls(bm.model), *bm.args, seed=seed, progress=False, **bm.kwargs)
        t_fit = time.perf_counter() - t0
        d = r.diagnostics(warn=False)
    total = time.perf_counter() - t0
    return total, {
        "warm_start": float(r.info.get("warm_start_seconds", 0.0)),
        "loop": float(r.seconds),
        "diagnostics": total - t_fit,
        "rest": t_fit - float(r.seconds) - float(r.info.get("warm_start_seconds", 0.0)),
        "steps": len(r.losses),
        "pareto_k": float(d.pareto_k),
        "elbo": float(d.elbo),
    }


def run_svi(bm, guide_cls, seed):
    guide = guide_cls(bm.model)
    from probapprox.infer._hooks import hook  # the same estimator and optimiser as pa.fit

    loss = hook(guide, "default_loss")(NUM_STEPS)
    optim = hook(guide, "default_optimizer")(NUM_STEPS)
    t0 = time.perf_counter()
    res = SVI(bm.model, guide, optim, loss).run(
        jax.random.PRNGKey(seed), NUM_STEPS, *bm.args, progress_bar=False, **bm.kwargs
    )
    jax.block_until_ready(res.params)
    total = time.perf_counter() - t0
    return total, {"final_loss": float(np.asarray(res.losses)[-100:].mean())}


def main(args):
    load0 = os.getloadavg()
    names = args.models.split(",") if args.models else list(DEFAULT_MODELS)
    guides = args.guides.split(",") if args.guides else list(GUIDES)
    cases = [(m, g) for m in names for g in guides]
    # warm-up: process start-up costs (XLA client, eager primitives) are paid once
    bm0 = get_model("normal_normal")
    run_svi(bm0, AutoNormal, 99)
    run_pa(bm0, AutoNormal, 99)
    times = {f"{m}/{g}": {"pa.fit": [], "SVI.run": [], "split": []} for m, g in cases}
    for rep in range(args.repeats):
        for m, g in cases:
            bm, key = get_model(m), f"{m}/{g}"
            t_svi, _ = run_svi(bm, GUIDES[g], rep)
            t_pa, split = run_pa(bm, GUIDES[g], rep)
            times[key]["SVI.run"].append(t_svi)
            times[key]["pa.fit"].append(t_pa)
            times[key]["split"].append(split)
            print(f"  {key} rep {rep}: pa.fit {t_pa:.2f} s, SVI.run {t_svi:.2f} s", flush=True)
    load1 = os.getloadavg()
    rows = {}
    for key, t in times.items():
        med_pa, med_svi = statistics.median(t["pa.fit"]), statistics.median(t["SVI.run"])
        split = {
            k: statistics.median(s[k] for s in t["split"])
            for k in ("warm_start", "loop", "diagnostics", "rest", "steps", "pareto_k")
        }
        rows[key] = {"pa_fit": med_pa, "svi_run": med_svi, "ratio": med_pa / med_svi, **split}
    ratios = [r["ratio"] for r in rows.values()]
    result = {
        "benchmark": "time_to_result",
        "num_steps": NUM_STEPS,
        "repeats": args.repeats,
        "rows": rows,
        "median_ratio": statistics.median(ratios),
        "max_ratio": max(ratios),
        "seconds": {k: {n: v for n, v in t.items() if n != "split"} for k, t in times.items()},
        "load_average_before_after": [load0, load1],
        "platform": platform.platform(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
    }
    out = Path(__file__).parent / "results" / (args.out or "time_to_result.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(
        "| model / guide | pa.fit s | SVI.run s | ratio | warm start | loop | diagnostics "
        "| rest | steps | k̂ |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, r in rows.items():
        print(
            f"| {key} | {r['pa_fit']:.2f} | {r['svi_run']:.2f} | {r['ratio']:.2f} | "
            f"{r['warm_start']:.2f} | {r['loop']:.2f} | {r['diagnostics']:.2f} | "
            f"{r['rest']:.2f} | {r['steps']:.0f} | {r['pareto_k']:.2f} |"
        )
    print(
        f"\nmedians of {args.repeats}; ratio median {result['median_ratio']:.2f}, max "
        f"{result['max_ratio']:.2f}; load average {load0[0]:.1f} -> {load1[0]:.1f} "
        f"({os.cpu_count()} cores)"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--models", default="")
    p.add_argument("--guides", default="")
    p.add_argument("--out", default="")
    main(p.parse_args())
