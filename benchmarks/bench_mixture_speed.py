"""Cost per step of the isotropic mixture against a full-covariance Gaussian, in N and d.

Target: a standard normal in ``d`` dimensions (one site ``x``). Guides:

* ``AutoIsoGaussianMixture(num_components=N)`` with pa.fit's defaults (``MixtureELBO`` with
  B = 10 draws per component, ``IsoMixtureDescent``): N·B draws per step, N(d+2) parameters;
* ``AutoMultivariateNormal`` with ``Trace_ELBO(num_particles=N·B, vectorize_particles=True)``
  (the same number of draws per step) and pa.fit's default Adam: d + d(d+1)/2 parameters.

Seconds per step are for jitted steps, compilation excluded: each fit runs
``(repeats + 1)·K`` steps in jitted chunks of ``K`` steps (``pa.fit(chunk_size=K)``), a
``callback`` timestamps the end of every chunk, the first chunk (which compiles) is dropped and
the median of the remaining ``repeats`` chunk times, divided by K, is reported. (This is the
"2K minus K steps" difference taken within one fit, so compilation is paid once per
configuration.) K is chosen per configuration from a short pilot fit so that a chunk takes
about ``--chunk-seconds``.

The table shows, besides seconds per step, the cost per unit of N·d and of N²·B·d (mixture:
every one of the N·B draws evaluates all N components in ``log q``) and per d² and N·B·d²
(full covariance: a d×d triangular product and solve per draw), and log-log slopes in d and
in N; writes ``benchmarks/results/mixture_speed.json``.

XLA runs single-threaded unless ``XLA_FLAGS`` is set (see below); the load average before
and after the run is recorded, since other processes on the machine distort timings.

Run: ``.venv/bin/python benchmarks/bench_mixture_speed.py [--repeats 5] [--dims 10 100 1000]``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import time
import warnings
from contextlib import redirect_stderr
from pathlib import Path

# One XLA thread by default: on a small shared machine, a two-thread pool stalls whenever
# another process holds a core, which makes the multi-threaded timings bimodal. Set
# XLA_FLAGS yourself (``XLA_FLAGS= python ...`` for XLA's defaults) to override.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from _meta import run_meta  # noqa: E402
from numpyro.infer import Trace_ELBO  # noqa: E402
from numpyro.infer.autoguide import AutoMultivariateNormal  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.guides import AutoIsoGaussianMixture  # noqa: E402

B = 10  # draws per mixture component per step (the paper's B_grad)


def make_model(d):
    def standard_normal():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([d]).to_event(1))

    return standard_normal


def make_fit_kwargs(guide_name, n, model):
    if guide_name == "mixture":
        guide = AutoIsoGaussianMixture(model, num_components=n, num_particles=B)
        return guide, {}
    guide = AutoMultivariateNormal(model)
    return guide, {"loss": Trace_ELBO(num_particles=n * B, vectorize_particles=True)}


def timed_fit(guide_name, n, d, chunk, num_chunks, seed=0):
    """Fit ``num_chunks`` chunks of ``chunk`` steps; return per-chunk seconds and the result."""
    model = make_model(d)
    guide, kw = make_fit_kwargs(guide_name, n, model)
    stamps = []
    t0 = time.perf_counter()
    with redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pa.fit(
            model,
            guide,
            num_steps=chunk * num_chunks,
            chunk_size=chunk,
            seed=seed,
            progress=False,
            callback=lambda step, losses: stamps.append(time.perf_counter()),
            warm_start=False,  # time the steps alone
            early_stop=False,
            **kw,
        )
    wall = time.perf_counter() - t0
    assert len(stamps) == num_chunks and np.all(np.isfinite(res.losses))
    chunks = [stamps[0] - t0] + [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return chunks, res, wall


def measure(guide_name, n, d, args):
    # pilot: a few steps, to size the chunk so that it takes about --chunk-seconds
    pilot, _, _ = timed_fit(guide_name, n, d, args.pilot_steps, 3)
    per_step = statistics.median(pilot[1:]) / args.pilot_steps
    k = int(min(args.max_chunk, max(args.min_chunk, math.ceil(args.chunk_seconds / per_step))))
    chunks, res, wall = timed_fit(guide_name, n, d, k, args.repeats + 1)
    steady = chunks[1:]
    med = statistics.median(steady)
    stored = int(sum(np.size(v) for v in jax.tree_util.tree_leaves(res.params)))
    if guide_name == "mixture":
        free = n * (d + 2)  # means N·d, variances N, weight logits N
    else:
        free = d + d * (d + 1) // 2  # loc d, lower-triangular scale d(d+1)/2
    return {
        "guide": "AutoIsoGaussianMixture" if guide_name == "mixture" else "AutoMultivariateNormal",
        "N": n,
        "d": d,
        "draws_per_step": n * B,
        "chunk_steps": k,
        "chunk_seconds": steady,
        "seconds_per_step": med / k,
        "seconds_per_step_min": min(steady) / k,
        "compile_seconds_approx": chunks[0] - med,
        "fit_seconds": float(res.seconds),
        "wall_seconds": wall,
        "free_parameters": free,
        "stored_param_entries": stored,
    }


def slope(rows, key="seconds_per_step"):
    """Log-log slope of ``key`` against d between consecutive dims."""
    rows = sorted(rows, key=lambda r: r["d"])
    return {
        f"{a['d']}->{b['d']}": math.log(b[key] / a[key]) / math.log(b["d"] / a["d"])
        for a, b in zip(rows, rows[1:], strict=False)
    }


def pick(rows, guide, n, d):
    return next(r for r in rows if r["guide"] == guide and r["N"] == n and r["d"] == d)


def n_slope(rows, guide, d):
    a, b = sorted((r for r in rows if r["guide"] == guide and r["d"] == d), key=lambda r: r["N"])[
        :2
    ]
    return math.log(b["seconds_per_step"] / a["seconds_per_step"]) / math.log(b["N"] / a["N"])


def main(args):
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    # warm-up: JAX/XLA start-up costs are paid once, not by the first configuration
    timed_fit("mixture", 2, 2, 5, 2)
    rows = []
    for d in args.dims:
        for n in args.components:
            for g in ("mixture", "mvn"):
                r = measure(g, n, d, args)
                rows.append(r)
                print(
                    f"  {r['guide']:<24} N={n:<3} d={d:<5} "
                    f"{1e3 * r['seconds_per_step']:9.3f} ms/step"
                    f"  (K={r['chunk_steps']}, compile ≈ {r['compile_seconds_approx']:.1f} s)",
                    flush=True,
                )
    slopes = {}
    for n in args.components:
        for g in ("AutoIsoGaussianMixture", "AutoMultivariateNormal"):
            slopes[f"{g} N={n}"] = slope([r for r in rows if r["guide"] == g and r["N"] == n])
    n_slopes = {}
    if len(args.components) >= 2:
        for g in ("AutoIsoGaussianMixture", "AutoMultivariateNormal"):
            n_slopes[g] = {f"d={d}": n_slope(rows, g, d) for d in args.dims}
    total = time.perf_counter() - t_start
    result = {
        "benchmark": "mixture_speed",
        "target": "standard normal, site x of shape (d,)",
        "draws_per_component": B,
        "repeats": args.repeats,
        "method": "median chunk time / K over `repeats` jitted chunks after the compiling one",
        "rows": rows,
        "loglog_slope_in_d": slopes,
        "loglog_slope_in_N": n_slopes,
    } | run_meta(load_before, total)
    out = Path(__file__).parent / "results" / "mixture_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))

    print(
        "\n| d | N | draws/step | mixture ms/step | ns per N·d | ns per N²·B·d | MVN ms/step "
        "| ns per d² | ns per N·B·d² | MVN / mixture | params mixture N(d+2) "
        "| params MVN d+d(d+1)/2 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in args.dims:
        for n in args.components:
            m = pick(rows, "AutoIsoGaussianMixture", n, d)
            f = pick(rows, "AutoMultivariateNormal", n, d)
            print(
                f"| {d} | {n} | {n * B} | {1e3 * m['seconds_per_step']:.3f} | "
                f"{1e9 * m['seconds_per_step'] / (n * d):.0f} | "
                f"{1e9 * m['seconds_per_step'] / (n * n * B * d):.2f} | "
                f"{1e3 * f['seconds_per_step']:.3f} | {1e9 * f['seconds_per_step'] / d**2:.1f} | "
                f"{1e9 * f['seconds_per_step'] / (n * B * d**2):.3f} | "
                f"{f['seconds_per_step'] / m['seconds_per_step']:.1f} | "
                f"{m['free_parameters']} | {f['free_parameters']} |"
            )
    print("\nlog-log slope of seconds/step in d (1 = linear, 2 = quadratic):\n")
    print("| guide | " + " | ".join(next(iter(slopes.values())).keys()) + " |")
    print("|---|" + "---|" * len(next(iter(slopes.values()))))
    for k, v in slopes.items():
        print(f"| {k} | " + " | ".join(f"{s:.2f}" for s in v.values()) + " |")
    if n_slopes:
        n0, n1 = sorted(args.components)[:2]
        print(f"\nlog-log slope of seconds/step in N ({n0}->{n1}; 1 = linear, 2 = quadratic):\n")
        print("| guide | " + " | ".join(f"d={d}" for d in args.dims) + " |")
        print("|---|" + "---|" * len(args.dims))
        for g, v in n_slopes.items():
            print(f"| {g} | " + " | ".join(f"{s:.2f}" for s in v.values()) + " |")
    print(
        f"\n(median of {args.repeats} jitted chunks per cell, compilation excluded; "
        f"{jax.devices()[0]}; XLA_FLAGS={result['xla_flags']!r}; load average "
        f"{load_before[0]:.1f} before, {result['loadavg_after'][0]:.1f} after; total {total:.0f} s)"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--components", type=int, nargs="+", default=[5, 20])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--chunk-seconds", type=float, default=0.4, help="target time of one chunk")
    p.add_argument("--pilot-steps", type=int, default=10)
    p.add_argument("--min-chunk", type=int, default=5)
    p.add_argument("--max-chunk", type=int, default=5000)
    main(p.parse_args())
