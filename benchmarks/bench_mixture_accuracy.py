"""Accuracy of AutoIsoGaussianMixture against NumPyro's Gaussian and IAF autoguides.

For each target (``four_modes``, ``rezende_u1``, ``mog10d``, ``funnel``,
``logistic_regression``) and each guide

* ``AutoIsoGaussianMixture`` with N in {1, 5, 20} components, IBW ("bures") and MD
  ("mirror") variance steps, learned weights (pa.fit's defaults: ``MixtureELBO`` and
  ``IsoMixtureDescent`` with a cosine-decayed step);
* NumPyro's ``AutoNormal``, ``AutoMultivariateNormal`` and ``AutoIAFNormal`` (pa.fit's
  defaults: ``PathELBO`` / ``Trace_ELBO`` and cosine-decayed Adam),

all with the same number of steps, it reports

* ``KL(q||p) = log Z - ELBO`` where log Z is known (ELBO from ``diagnostics`` with
  20 000 draws; its standard error is the KL's);
* for ``logistic_regression`` (no exact reference): the ELBO (differences of ELBO are
  differences of KL) and, against a NUTS reference (1000 warm-up, 2000 draws, cached in
  ``benchmarks/results/logistic_regression_nuts.npz``), ``max |mean error| / sd`` and the
  range of ``sd_q / sd_NUTS`` over the 31 coordinates;
* for targets with exact moments the same two moment summaries, and for ``funnel`` the
  mean and sd of ``v`` (exact: 0 and 3);
* for ``four_modes`` the mass per quadrant (I, II, III, IV) from 20 000 draws and the
  largest error against 0.25;
* PSIS k̂, importance ESS, ``FitResult.seconds`` (the loop, compilation included) and the
  wall time of guide construction plus ``pa.fit``.

A second experiment runs the paper's exact family (``weights="uniform"``) against learned
weights on ``four_modes``: N = 8, 5 seeds, ``init_radius=10``, ``init_variance=5``, constant
step ``IsoMixtureDescent(0.01)`` for 10 000 steps; it counts the seeds that end with unbalanced
modes (largest quadrant-mass error > 0.03) and lists the KLs.

Fits run in ``--jobs`` single-threaded worker processes (default 2, one per core here), so
each reported time is a one-core time. Writes ``benchmarks/results/mixture_accuracy.json``
and prints markdown tables.

Run: ``.venv/bin/python benchmarks/bench_mixture_accuracy.py [--steps 5000] [--jobs 2]``;
``--quick`` is a smoke run (few steps, two targets, two seeds).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from numpyro.infer.autoguide import (  # noqa: E402
    AutoIAFNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

import probapprox as pa  # noqa: E402
from probapprox.guides import AutoIsoGaussianMixture  # noqa: E402
from probapprox.models import get_model  # noqa: E402
from probapprox.optim import IsoMixtureDescent  # noqa: E402

RESULTS = Path(__file__).parent / "results"
NUTS_CACHE = RESULTS / "logistic_regression_nuts.npz"
TARGETS = ("four_modes", "rezende_u1", "mog10d", "funnel", "logistic_regression")
QUICK_TARGETS = ("four_modes", "rezende_u1")
# quadrant order of models.toy_densities: I (+,+), II (-,+), III (-,-), IV (+,-)
QUADRANT_SIGNS = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
UNBALANCED = 0.03  # largest quadrant-mass error that still counts as balanced
SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


# ---------------------------------------------------------------------------- guides


def guide_specs(components):
    """(label, spec) for every guide of the main grid."""
    specs = []
    for n in components:
        for step in ("bures", "mirror"):
            label = f"MIG N={n} {'IBW' if step == 'bures' else 'MD'}"
            specs.append((label, {"family": "mixture", "N": n, "variance_step": step}))
    for name in ("AutoNormal", "AutoMultivariateNormal", "AutoIAFNormal"):
        specs.append((name, {"family": name}))
    return specs


def make_guide(spec, model):
    family = spec["family"]
    if family == "mixture":
        kw = {k: spec[k] for k in ("weights", "init_radius", "init_variance") if k in spec}
        return AutoIsoGaussianMixture(
            model, num_components=spec["N"], variance_step=spec["variance_step"], **kw
        )
    return {
        "AutoNormal": AutoNormal,
        "AutoMultivariateNormal": AutoMultivariateNormal,
        "AutoIAFNormal": AutoIAFNormal,
    }[family](model)


# ---------------------------------------------------------------------------- workers


def _init_worker():
    warnings.simplefilter("ignore")


def quadrant_masses(x):
    """Fraction of draws ``x (n, 2)`` in quadrants I, II, III, IV."""
    signs = np.sign(x)
    return [float(np.mean(np.all(signs == s, axis=1))) for s in QUADRANT_SIGNS]


def run_fit(task):
    """One fit and its raw summaries (picklable dict); metrics are finished in the parent."""
    warnings.simplefilter("ignore")
    bm = get_model(task["target"])
    spec = task["spec"]
    optimizer = None
    if spec.get("constant_step") is not None:
        optimizer = IsoMixtureDescent(
            spec["constant_step"], variance_step=spec.get("variance_step", "bures")
        )
    t0 = time.perf_counter()
    guide = make_guide(spec, bm.model)
    res = pa.fit(
        bm.model,
        guide,
        *bm.args,
        num_steps=task["steps"],
        seed=task["seed"],
        progress=False,
        optimizer=optimizer,
        **bm.kwargs,
    )
    wall = time.perf_counter() - t0
    n = task["draws"]
    diag = res.diagnostics(n, seed=task["seed"] + 1000, warn=False)
    draws = res.sample(n, seed=task["seed"] + 2000)
    out = {
        "target": task["target"],
        "guide": task["label"],
        "spec": spec,
        "seed": task["seed"],
        "steps": task["steps"],
        "fit_seconds": float(res.seconds),
        "wall_seconds": wall,
        "final_loss": float(np.median(res.losses[-100:])),
        "elbo": float(diag.elbo),
        "elbo_se": float(diag.elbo_se),
        "pareto_k": float(diag.pareto_k),
        "ess": float(diag.ess),
        "num_params": int(sum(np.size(v) for v in jax.tree_util.tree_leaves(res.params))),
        "mean": {k: np.mean(v, axis=0).tolist() for k, v in draws.items()},
        "sd": {k: np.std(v, axis=0).tolist() for k, v in draws.items()},
    }
    if task["target"].startswith("four_modes"):
        out["quadrant_masses"] = quadrant_masses(np.asarray(draws["x"]))
    if spec["family"] == "mixture":
        mix = guide.mixture(res.params)
        logits = np.asarray(mix.logits)
        w = np.exp(logits - logits.max())
        out["mixture"] = {
            "weights": (w / w.sum()).tolist(),
            "variances": np.asarray(mix.variances).tolist(),
        }
    return out


def run_nuts(_=None):
    """NUTS reference for the logistic regression: per-coordinate mean, sd, ESS."""
    warnings.simplefilter("ignore")
    from numpyro.diagnostics import effective_sample_size
    from numpyro.infer import MCMC, NUTS

    bm = get_model("logistic_regression")
    t0 = time.perf_counter()
    mcmc = MCMC(NUTS(bm.model), num_warmup=1000, num_samples=2000, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), *bm.args, **bm.kwargs)
    seconds = time.perf_counter() - t0
    s = mcmc.get_samples()
    flat = np.concatenate([np.asarray(s["w"]), np.asarray(s["b"])[:, None]], axis=1)
    ess = np.asarray(effective_sample_size(flat[None]))
    return {
        "mean": flat.mean(0),
        "sd": flat.std(0),
        "ess": ess,
        "draws": flat.astype(np.float32),
        "seconds": np.float64(seconds),
        "num_divergences": np.int64(np.sum(mcmc.get_extra_fields()["diverging"])),
    }


def load_or_run_nuts(pool):
    if NUTS_CACHE.exists():
        with np.load(NUTS_CACHE) as f:
            return {k: f[k] for k in f.files}, None
    return None, pool.submit(run_nuts)


# ---------------------------------------------------------------------------- metrics


def flat_moments(summary, sites):
    mean = np.concatenate([np.ravel(summary["mean"][s]) for s in sites])
    sd = np.concatenate([np.ravel(summary["sd"][s]) for s in sites])
    return mean, sd


def finish(row, nuts):
    """Add KL and moment errors to a worker's row."""
    bm = get_model(row["target"])
    ref = bm.reference
    if ref is not None and ref.log_Z is not None:
        row["kl"] = ref.log_Z - row["elbo"]
    ref_mean = ref_sd = None
    if ref is not None and ref.mean is not None:
        sites = ref.sites
        ref_mean = np.concatenate([np.ravel(ref.mean[s]) for s in sites])
        ref_sd = np.concatenate([np.ravel(ref.sd[s]) for s in sites])
    elif row["target"] == "logistic_regression" and nuts is not None:
        sites = ("w", "b")
        ref_mean, ref_sd = nuts["mean"], nuts["sd"]
    if ref_mean is not None:
        mean, sd = flat_moments(row, sites)
        row["max_abs_mean_err_over_sd"] = float(np.max(np.abs(mean - ref_mean) / ref_sd))
        ratio = sd / ref_sd
        row["sd_ratio_min"] = float(ratio.min())
        row["sd_ratio_max"] = float(ratio.max())
    if row["target"] == "funnel":
        row["v_mean"] = float(row["mean"]["v"])
        row["v_sd"] = float(row["sd"]["v"])
        row["v_mean_err"] = abs(row["v_mean"] - float(ref.mean["v"]))
        row["v_sd_ratio"] = row["v_sd"] / float(ref.sd["v"])
    if "quadrant_masses" in row:
        if row["target"] == "four_modes":
            target_w = np.full(4, 0.25)
        else:
            target_w = np.array([0.1, 0.3, 0.3, 0.3])
        row["max_mass_err"] = float(np.max(np.abs(np.array(row["quadrant_masses"]) - target_w)))
    return row


# ---------------------------------------------------------------------------- tables


def print_tables(rows, uvl, args):
    for target in args.targets:
        sub = [r for r in rows if r["target"] == target]
        if not sub:
            continue
        print(f"\n### {target} ({args.steps} steps, seed {args.seed})\n")
        lr = target == "logistic_regression"
        cols = ["guide", "ELBO ± se" if lr else "KL ± se"]
        if target == "four_modes":
            cols += ["masses I/II/III/IV", "max mass err"]
        elif target != "rezende_u1":
            cols += ["max\\|Δmean\\|/sd" + (" (vs NUTS)" if lr else ""), "sd ratio"]
        if target == "funnel":
            cols += ["v mean (0)", "v sd (3)"]
        cols += ["k̂", "ESS", "fit s", "wall s"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in sub:
            if lr:
                cells = [r["guide"], f"{r['elbo']:.2f} ± {r['elbo_se']:.2f}"]
            else:
                cells = [r["guide"], f"{r['kl']:.4f} ± {r['elbo_se']:.4f}"]
            if target == "four_modes":
                cells += ["/".join(f"{m:.3f}" for m in r["quadrant_masses"])]
                cells += [f"{r['max_mass_err']:.3f}"]
            elif target != "rezende_u1":
                if "max_abs_mean_err_over_sd" in r:
                    cells += [
                        f"{r['max_abs_mean_err_over_sd']:.3f}",
                        f"{r['sd_ratio_min']:.2f}–{r['sd_ratio_max']:.2f}",
                    ]
                else:
                    cells += ["—", "—"]
            if target == "funnel":
                cells += [f"{r['v_mean']:+.2f}", f"{r['v_sd']:.2f}"]
            cells += [
                f"{r['pareto_k']:.2f}",
                f"{r['ess']:.0f}",
                f"{r['fit_seconds']:.1f}",
                f"{r['wall_seconds']:.1f}",
            ]
            print("| " + " | ".join(cells) + " |")
    if uvl:
        print(
            f"\n### four_modes, uniform vs learned weights (N=8, init_radius 10, init_variance 5, "
            f"constant IsoMixtureDescent(0.01), {args.uvl_steps} steps)\n"
        )
        print(
            f"| weights | seeds unbalanced (max mass err > {UNBALANCED}) | KL per seed "
            "| max mass err per seed | median fit s |"
        )
        print("|---|---|---|---|---|")
        for w, s in uvl["summary"].items():
            print(
                f"| {w} | {s['num_unbalanced']}/{s['num_seeds']} | "
                + ", ".join(f"{k:.3f}" for k in s["kl"])
                + " | "
                + ", ".join(f"{e:.3f}" for e in s["max_mass_err"])
                + f" | {s['median_fit_seconds']:.1f} |"
            )


# ---------------------------------------------------------------------------- main


def main(args):
    if args.quick:
        args.steps = min(args.steps, 500)
        args.uvl_steps = min(args.uvl_steps, 1000)
        args.seeds = min(args.seeds, 2)
        args.components = [n for n in args.components if n <= 5] or [1]
        args.draws = min(args.draws, 5000)
        if args.targets is None:
            args.targets = list(QUICK_TARGETS)
    if args.targets is None:
        args.targets = list(TARGETS)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        raise SystemExit(f"unknown targets {sorted(unknown)}; valid: {TARGETS}")
    RESULTS.mkdir(exist_ok=True)

    tasks = []
    for target in args.targets:
        for label, spec in guide_specs(args.components):
            tasks.append(
                {
                    "kind": "grid",
                    "target": target,
                    "label": label,
                    "spec": spec,
                    "steps": args.steps,
                    "seed": args.seed,
                    "draws": args.draws,
                }
            )
    if not args.no_uvl:
        for weights in ("uniform", "learned"):
            for seed in range(args.seeds):
                spec = {
                    "family": "mixture",
                    "N": 8,
                    "variance_step": "bures",
                    "weights": weights,
                    "init_radius": 10.0,
                    "init_variance": 5.0,
                    "constant_step": 0.01,
                }
                tasks.append(
                    {
                        "kind": "uvl",
                        "target": "four_modes",
                        "label": f"MIG N=8 {weights}",
                        "spec": spec,
                        "steps": args.uvl_steps,
                        "seed": seed,
                        "draws": args.draws,
                    }
                )

    # rough cost order, longest first, so the pool ends together
    def cost(t):
        c = {"logistic_regression": 4, "funnel": 2, "mog10d": 2}.get(t["target"], 1)
        return -c * t["steps"] * t["spec"].get("N", 3)

    tasks.sort(key=cost)
    t_start = time.perf_counter()
    ctx = mp.get_context("spawn")
    if args.jobs > 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + SINGLE_THREAD).strip()
    with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_init_worker) as pool:
        nuts, nuts_future = (None, None)
        if "logistic_regression" in args.targets:
            nuts, nuts_future = load_or_run_nuts(pool)
        futures = [pool.submit(run_fit, t) for t in tasks]
        raw = []
        for t, f in zip(tasks, futures, strict=True):
            r = f.result()
            r["kind"] = t["kind"]
            raw.append(r)
            print(
                f"  done {r['target']:<20} {r['guide']:<24} seed {r['seed']} "
                f"ELBO {r['elbo']:9.4f}  k̂ {r['pareto_k']:5.2f}  {r['wall_seconds']:6.1f} s",
                flush=True,
            )
        if nuts_future is not None:
            nuts = nuts_future.result()
            np.savez(NUTS_CACHE, **nuts)
    total = time.perf_counter() - t_start

    rows = [finish(r, nuts) for r in raw if r["kind"] == "grid"]
    order = {lab: i for i, (lab, _) in enumerate(guide_specs(args.components))}
    rows.sort(key=lambda r: (args.targets.index(r["target"]), order[r["guide"]]))
    uvl = None
    uvl_rows = [finish(r, nuts) for r in raw if r["kind"] == "uvl"]
    if uvl_rows:
        summary = {}
        for w in ("uniform", "learned"):
            sub = sorted(
                (r for r in uvl_rows if r["spec"]["weights"] == w), key=lambda r: r["seed"]
            )
            summary[w] = {
                "num_seeds": len(sub),
                "num_unbalanced": sum(r["max_mass_err"] > UNBALANCED for r in sub),
                "kl": [r["kl"] for r in sub],
                "kl_se": [r["elbo_se"] for r in sub],
                "max_mass_err": [r["max_mass_err"] for r in sub],
                "quadrant_masses": [r["quadrant_masses"] for r in sub],
                "pareto_k": [r["pareto_k"] for r in sub],
                "median_fit_seconds": float(np.median([r["fit_seconds"] for r in sub])),
            }
        uvl = {"rows": uvl_rows, "summary": summary}

    nuts_info = None
    if nuts is not None:
        nuts_info = {
            "cache": str(NUTS_CACHE.relative_to(RESULTS.parent.parent)),
            "num_warmup": 1000,
            "num_samples": 2000,
            "min_ess": float(np.min(nuts["ess"])),
            "seconds": float(nuts["seconds"]),
            "num_divergences": int(nuts["num_divergences"]),
        }
    for r in rows + (uvl_rows or []):
        r.pop("mean", None)
        r.pop("sd", None)
    result = {
        "benchmark": "mixture_accuracy",
        "steps": args.steps,
        "seed": args.seed,
        "draws": args.draws,
        "components": args.components,
        "targets": args.targets,
        "quick": args.quick,
        "jobs": args.jobs,
        "rows": rows,
        "uniform_vs_learned": None
        if uvl is None
        else {
            "settings": {
                "target": "four_modes",
                "N": 8,
                "init_radius": 10.0,
                "init_variance": 5.0,
                "optimizer": "IsoMixtureDescent(0.01), constant, bures",
                "steps": args.uvl_steps,
                "seeds": args.seeds,
                "unbalanced_threshold": UNBALANCED,
            },
            **uvl,
        },
        "nuts_reference": nuts_info,
        "total_seconds": total,
        "platform": platform.platform(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
    }
    out = RESULTS / ("mixture_accuracy_quick.json" if args.quick else "mixture_accuracy.json")
    out.write_text(json.dumps(result, indent=1))
    print_tables(rows, uvl, args)
    if nuts_info is not None:
        print(
            f"\nNUTS reference: min ESS {nuts_info['min_ess']:.0f} over 31 coordinates, "
            f"{nuts_info['num_divergences']} divergences "
            f"(MC error of its means ≈ sd/√ESS ≤ {1 / np.sqrt(nuts_info['min_ess']):.3f} sd)"
        )
    print(f"\n(one seed per cell; {args.jobs} single-threaded workers; total {total:.0f} s)")
    print(f"wrote {out}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--components", type=int, nargs="+", default=[1, 5, 20])
    p.add_argument("--targets", nargs="+", default=None, choices=TARGETS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=int, default=20_000, help="draws for ELBO, k̂ and masses")
    p.add_argument("--uvl-steps", type=int, default=10_000, help="uniform-vs-learned steps")
    p.add_argument("--seeds", type=int, default=5, help="uniform-vs-learned seeds")
    p.add_argument("--no-uvl", action="store_true", help="skip uniform-vs-learned")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--quick", action="store_true", help="fast smoke run")
    main(p.parse_args())
