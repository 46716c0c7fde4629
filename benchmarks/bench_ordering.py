"""Seconds for maximin ordering, the ρ-ball pattern and the reduced ancestor sets, in n.

Inputs: ``X ~ U[0, 1]^d`` (seed 0), lengthscale 1, ρ = 2 (the DKLGP default), for
n ∈ {1e4, 1e5, 1e6} with d = 2, plus n = 1e5 with d = 5. Per configuration the three steps
run in sequence, as :func:`probapprox.ordering.build_pattern` runs them:

* ``maximin_order(X)`` (exact; KD-tree + batched greedy);
* ``rho_pattern(X[perm], ell, rho)``: S_j = {i <= j : |x_i - x_j| <= ρ ℓ_j};
* ``ancestor_sets(X[perm], ell, rho)``: A_j = {i <= j : |x_i - x_j| <= ρ ℓ_i} (no cap).

Both wall-clock and process CPU seconds are recorded (the CPU time is less sensitive to
other processes on a shared machine; everything here is single-threaded NumPy/scipy). Each
step is timed ``--repeats`` times for n <= 1e5 (the median is reported) and once for larger
n. The table also gives mean and max |S_j| and |A_j| and the log-log slope of seconds in n
(1 = linear; n log n reads about 1.1 between 1e4 and 1e6). Writes
``benchmarks/results/ordering.{json,md}``.

Run: ``.venv/bin/python benchmarks/bench_ordering.py [--sizes 1e4 1e5 1e6] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # run_meta records jax's device; no GPU probe

import numpy as np  # noqa: E402
from _meta import run_meta  # noqa: E402

from probapprox.ordering import ancestor_sets, maximin_order, rho_pattern  # noqa: E402

STEPS = ("order", "pattern", "ancestors")


def timed(fn, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def run_once(X, rho):
    (perm, ell), w1, c1 = timed(maximin_order, X)
    xo = X[perm]
    idx, w2, c2 = timed(rho_pattern, xo, ell, rho)
    anc, w3, c3 = timed(ancestor_sets, xo, ell, rho)
    assert np.all(np.diff(ell) <= 0) and np.array_equal(idx[:, -1], np.arange(len(X)))
    walls = {"order": w1, "pattern": w2, "ancestors": w3}
    cpus = {"order": c1, "pattern": c2, "ancestors": c3}
    return walls, cpus, idx, anc


def measure(n, d, rho, repeats):
    X = np.random.default_rng(0).random((n, d))
    reps = repeats if n <= 100_000 else 1
    walls, cpus = [], []
    for _ in range(reps):
        w, c, idx, anc = run_once(X, rho)
        walls.append(w)
        cpus.append(c)
    s_counts = (idx >= 0).sum(axis=1)
    a_counts = (anc >= 0).sum(axis=1)
    row = {"n": n, "d": d, "rho": rho, "repeats": reps}
    for s in STEPS:
        row[f"{s}_wall_s"] = statistics.median(w[s] for w in walls)
        row[f"{s}_cpu_s"] = statistics.median(c[s] for c in cpus)
    row["total_wall_s"] = sum(row[f"{s}_wall_s"] for s in STEPS)
    row["total_cpu_s"] = sum(row[f"{s}_cpu_s"] for s in STEPS)
    row |= {
        "mean_neighbors": float(s_counts.mean()),
        "max_neighbors": int(s_counts.max()),
        "mean_ancestors": float(a_counts.mean()),
        "max_ancestors": int(a_counts.max()),
    }
    return row


def _n(n):
    e = round(math.log10(n))
    return f"1e{e}" if 10**e == n else f"{n:,}"


def slopes(rows, key):
    rows = sorted(rows, key=lambda r: r["n"])
    return {
        f"{_n(a['n'])}->{_n(b['n'])}": math.log(b[key] / a[key]) / math.log(b["n"] / a["n"])
        for a, b in zip(rows, rows[1:], strict=False)
    }


def markdown(rows, growth, meta):
    lines = [
        "# Maximin ordering + ρ-ball pattern + ancestor sets (probapprox.ordering)",
        "",
        "X ~ U[0,1]^d, ρ = 2, lengthscale 1; seconds are wall (process CPU in brackets); "
        "single-threaded NumPy + scipy cKDTree.",
        "",
        "| n | d | order s | pattern s | ancestors s | total s | mean S | max S | mean A | max A |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{r[f'{s}_wall_s']:.2f} ({r[f'{s}_cpu_s']:.2f})" for s in (*STEPS, "total")]
        lines.append(
            f"| {_n(r['n'])} | {r['d']} | " + " | ".join(cells) + f" | {r['mean_neighbors']:.2f} "
            f"| {r['max_neighbors']} | {r['mean_ancestors']:.1f} | {r['max_ancestors']} |"
        )
    lines += ["", "Log-log slope of CPU seconds in n (d = 2; 1 = linear):", ""]
    keys = list(next(iter(growth.values())).keys())
    lines += ["| step | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for step, v in growth.items():
        lines.append(f"| {step} | " + " | ".join(f"{x:.2f}" for x in v.values()) + " |")
    lines += [
        "",
        f"Load average {meta['loadavg_before'][0]:.1f} before, {meta['loadavg_after'][0]:.1f} "
        f"after; {os.cpu_count()} CPUs; {meta['platform']}; total {meta['total_seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main(args):
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    configs = [(int(float(n)), 2) for n in args.sizes] + [(int(float(n)), 5) for n in args.sizes_d5]
    rows = []
    for n, d in configs:
        r = measure(n, d, args.rho, args.repeats)
        rows.append(r)
        print(
            f"  n={_n(n)} d={d}: order {r['order_wall_s']:.2f}s ({r['order_cpu_s']:.2f} cpu), "
            f"pattern {r['pattern_wall_s']:.2f}s, ancestors {r['ancestors_wall_s']:.2f}s; "
            f"mean |S| {r['mean_neighbors']:.2f}, mean |A| {r['mean_ancestors']:.1f}",
            flush=True,
        )
    d2 = [r for r in rows if r["d"] == 2]
    growth = {s: slopes(d2, f"{s}_cpu_s") for s in (*STEPS, "total")}
    growth_wall = {s: slopes(d2, f"{s}_wall_s") for s in (*STEPS, "total")}
    meta = run_meta(load_before, time.perf_counter() - t0)
    result = {
        "benchmark": "ordering",
        "inputs": "X ~ U[0,1]^d, seed 0, lengthscale 1",
        "rho": args.rho,
        "method": "median over repeats (n <= 1e5) of wall and process CPU seconds per step",
        "rows": rows,
        "loglog_slope_cpu_in_n": growth,
        "loglog_slope_wall_in_n": growth_wall,
        "cpu_count": os.cpu_count(),
    } | meta
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ordering.json").write_text(json.dumps(result, indent=1))
    md = markdown(rows, growth, meta)
    (out / "ordering.md").write_text(md)
    print("\n" + md)
    print(f"wrote {out / 'ordering.json'} and {out / 'ordering.md'}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["1e4", "1e5", "1e6"])
    p.add_argument("--sizes-d5", nargs="*", default=["1e5"])
    p.add_argument("--rho", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    main(p.parse_args())
