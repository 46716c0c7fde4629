"""LatentGP (DKLGP) benchmark: sim1 accuracy against dense and GPyTorch peers, and scale in n.

**Accuracy** (``--part accuracy``; ``_latent_gp_accuracy.py``). The DKLGP paper's sim1
(x ~ U[0,1]⁵, Matérn-3/2 ARD ℓ = [.25, .5, .75, 1, 1.25], variance 1, nugget 1e-4, 2000
train / 500 test, hyperparameters fixed at the truth) with Gaussian (noise 0.01),
Bernoulli-logit and Poisson-log likelihoods, ``--seeds`` draws each. Methods: LatentGP SIC
at ρ = 1.5 and 2.0, its mean-field ablation (``variational="diagonal"``, same prior), the dense
reference (exact posterior, or the optimal dense full-covariance Gaussian VI by L-BFGS-B),
GPyTorch SVGP with m = the pattern's ``int(nnz/n)`` and with m = 500, and VNNGP with k = m.
Scores of q(f) at the test points against the true f: RMSE, Gaussian NLL (with ½log2π),
mean |μ − μ_ref| / sd_ref and mean var / var_ref against the dense reference; fit seconds
(with compilation for LatentGP). Medians over seeds. Results are cached per
(likelihood, seed, method) under ``--cache`` so that methods computed elsewhere (e.g. on a
GPU machine with ``--methods sic_rho2.0``) are merged by copying their files in.

**Scale** (``--part scale``; ``_latent_gp_scale.py``, one process per n so the peak RSS is
per n): n ∈ {1e4, 1e5, 1e6} (``--quick``: 1e4, 1e5), d = 2, Bernoulli, ρ = 2, b = 128.
Seconds per step (median over chunks of a jitted scan of the library's step, after
compilation), per epoch (``run_epochs``, one epoch), compile seconds, ordering/pattern and
Laplace-init seconds, peak RSS. Rows are cached as ``scale_<backend>_<host>_n<n>.json``; every
cached row (any machine) is reported, grouped by device.

**Wide** (``--part wide`` only; ``_latent_gp_wide.py``): 20 000-point 2-D Bernoulli, LatentGP
defaults against GPyTorch VNNGP (k = 10), SVGP (400) and GPBoost (k = 10), same frozen prior.

Run: ``.venv/bin/python benchmarks/bench_latent_gp.py [--quick] [--part accuracy|scale|wide|all]``.
Writes ``benchmarks/results/latent_gp[_quick].{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from _latent_gp_accuracy import (  # noqa: E402
    LIKELIHOODS,
    PEER_SCHEDULE,
    SVGP_LARGE,
    collect,
    run_task,
    tasks,
)
from _meta import run_meta, write_results  # noqa: E402

HERE = Path(__file__).parent
METRICS = ("rmse", "nll", "mean_err_sd", "var_ratio", "fit_s")


def _median(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    return statistics.median(vals) if vals else None


def _pool_env() -> dict:
    """Environment of a parallel CPU task: JAX on the CPU, one thread for XLA and BLAS."""
    one = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return os.environ | one | {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}


def accuracy(args) -> dict:
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    prefixes = tuple(args.methods.split(",")) if args.methods else None
    on_device = tuple(args.device_methods.split(",")) if args.device_methods else ()

    def selected(name):
        return prefixes is None or name.startswith(prefixes)

    todo = []
    if not args.no_compute:
        for lik in args.likelihoods:
            for seed in range(args.seeds):
                todo += tasks(lik, seed, cache, selected)
    here = [t for t in todo if args.jobs <= 1 or (on_device and t[2].startswith(on_device))]
    here.sort(key=lambda t: (t[1], t[0]))  # every likelihood's first seed first
    pooled = sorted((t for t in todo if t not in here), key=_cost, reverse=True)  # longest first

    def spawn(task):
        cmd = [sys.executable, __file__, "--task", task[0], str(task[1]), task[2],
               "--cache", str(cache), "--threads", "1"]  # fmt: skip
        return subprocess.run(cmd, env=_pool_env(), check=False).returncode

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(spawn, t) for t in pooled]
        for task in here:
            run_task(*task, cache, threads=args.threads)
        failed = [t for t, f in zip(pooled, futures, strict=True) if f.result() != 0]
    if failed:
        print(f"  failed tasks: {failed}")
    rows = []
    for lik in args.likelihoods:
        for seed in range(args.seeds):
            rows += collect(lik, seed, cache)
    summary = []
    for lik in args.likelihoods:
        methods = sorted({r["method"] for r in rows if r["likelihood"] == lik}, key=_order)
        for method in methods:
            sel = [r for r in rows if r["likelihood"] == lik and r["method"] == method]
            devices = sorted({r["device"] for r in sel if r.get("device")})
            row = {"likelihood": lik, "method": method, "seeds": len(sel), "devices": devices}
            row |= {k: _median(sel, k) for k in (*METRICS, "var_ratio_median")}
            summary.append(row)
    sizes = {}
    for path in cache.glob("*_sizes.json"):
        sizes[path.stem.removesuffix("_sizes")] = json.loads(path.read_text())
    return {"rows": rows, "summary": summary, "pattern_sizes": sizes}


def _cost(task):
    """Rough CPU cost rank of a task, to start the longest first."""
    lik, _, name = task
    ranks = {"svgp_m500": 5, "dense": 4 if lik != "gaussian" else 0, "vnngp": 3, "sic": 2}
    return next((v for k, v in ranks.items() if name.startswith(k)), 1)


def _order(method):
    head = ("dense", "default", "sic", "diag", "svgp", "vnngp", "gpboost")
    kind, _, rest = method.partition("_")
    return head.index(kind), float("".join(c for c in rest if c.isdigit() or c == ".") or 0)


def wide(args) -> dict:
    """The 20 000-point 2-D Bernoulli comparison (``_latent_gp_wide.py``), cached per seed."""
    from _latent_gp_accuracy import TORCH_PY  # noqa: PLC0415
    from _latent_gp_wide import wide as run_wide  # noqa: PLC0415

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(args.seeds):
        path = cache / f"wide_s{seed}.json"
        if not path.exists() and not args.no_compute:
            methods = ("ours", "vnngp", "svgp", "gpboost") if TORCH_PY.exists() else ("ours",)
            path.write_text(json.dumps(run_wide(seed, TORCH_PY, methods), default=float))
        if path.exists():
            rows += json.loads(path.read_text())
    summary = []
    for method in sorted({r["method"] for r in rows}):
        sel = [r for r in rows if r["method"] == method]
        row = {"method": method, "seeds": len(sel)}
        row |= {k: _median(sel, k) for k in ("fit_s", "s_per_epoch", "nll", "rmse")}
        summary.append(row)
    return {"rows": rows, "summary": summary}


def scale(args) -> dict:
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    tag = f"{jax.default_backend()}_{platform.node()[:20]}"
    if args.max_ancestors:
        tag += f"_cap{args.max_ancestors}"
    for n in (int(float(s)) for s in args.sizes):
        path = cache / f"scale_{tag}_n{n}.json"
        if path.exists() or args.no_compute:
            continue
        print(f"  scale n={n:,} on {tag}", flush=True)
        epochs = args.epochs if n < 10**6 else args.epochs_1e6
        cmd = [sys.executable, str(HERE / "_latent_gp_scale.py"), str(n), str(path),
               "--epochs", str(epochs), "--chunk", str(args.chunk),
               "--repeats", str(args.repeats)]  # fmt: skip
        if n >= 10**6 and not args.laplace_1e6:
            cmd.append("--no-laplace")
        if args.max_ancestors:
            cmd += ["--max-ancestors", str(args.max_ancestors)]
        subprocess.run(cmd, check=True)
    rows = []
    for p in sorted(cache.glob("scale_*.json")):  # the host is in the name
        rows.append({"host": p.stem.removeprefix("scale_").rsplit("_n", 1)[0]})
        rows[-1] |= json.loads(p.read_text())
    rows.sort(key=lambda r: (r["host"], r["n"]))
    ratios = {}
    for host in sorted({r["host"] for r in rows}):
        by_n = {r["n"]: r for r in rows if r["host"] == host}
        if 10_000 not in by_n:
            continue
        base = by_n[10_000]
        ratios[host] = {
            str(n): {
                "step_wall": r["step_wall_s"] / base["step_wall_s"],
                "step_cpu": r["step_cpu_s"] / base["step_cpu_s"],
                "epoch_per_step_cpu": _ratio(r, base, "step_from_epoch_cpu_s"),
                "rss_growth_per_point_kb": 1024 * (r["rss_peak_mb"] - r["rss_base_mb"]) / n,
            }
            for n, r in sorted(by_n.items())
        }
    return {"rows": rows, "ratios": ratios}


def _ratio(r, base, key):
    return r[key] / base[key] if r.get(key) and base.get(key) else None


def _ms(r, key):
    return "–" if r.get(key) is None else f"{1e3 * r[key]:.1f} ms"


def _f(x, fmt=".3f"):
    return "–" if x is None else format(x, fmt)


def markdown(result, meta) -> list[str]:
    lines = ["# LatentGP (DKLGP): sim1 accuracy and per-step scale", ""]
    acc = result.get("accuracy")
    if acc:
        lines += [
            "## Accuracy at sim1 (d = 5, 2000 train / 500 test, hyperparameters at the truth)",
            "",
            f"Median over seeds of per-point means at the 500 test points. NLL of the true f "
            f"under q(f) includes ½log2π. err/sd = mean |μ − μ_ref| / sd_ref and var ratio = "
            f"mean var/var_ref against the dense reference. LatentGP: 30 epochs, b = 128, lr "
            f"0.01 (×0.1 for the last 5), Laplace init; fit s includes compilation. SVGP: NGD "
            f"lr {PEER_SCHEDULE['svgp']['lr']} + Adam 0.01 on the inducing inputs, "
            f"{PEER_SCHEDULE['svgp']['epochs']} epochs; VNNGP: Adam lr "
            f"{PEER_SCHEDULE['vnngp']['lr']}, {PEER_SCHEDULE['vnngp']['epochs']} epochs; "
            f"both b = 128, float64, kernel frozen at the truth; m = int(nnz/n) of the ρ "
            f"pattern, and {SVGP_LARGE}. default: LatentGP with the library defaults (exact "
            "mode at n = 2000: CVI sites, no epochs); default_learn: the same learning the "
            "hyperparameters from ℓ = 0.5, variance 0.5 (L-BFGS on the converged ELBO). "
            "gpboost_k(m): GPBoost Vecchia–Laplace at the true hyperparameters; gpboostlearn: "
            "estimating them.",
            "",
        ]
        for lik in LIKELIHOODS:
            sel = [r for r in acc["summary"] if r["likelihood"] == lik]
            if not sel:
                continue
            lines += [f"### {lik}", "", "| method | seeds | RMSE | NLL | err/sd | var ratio | "
                      "fit s | device |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
            for r in sel:
                lines.append(
                    f"| {r['method']} | {r['seeds']} | {_f(r['rmse'])} | {_f(r['nll'])} | "
                    f"{_f(r['mean_err_sd'])} | {_f(r['var_ratio'])} | {_f(r['fit_s'], '.1f')} "
                    f"| {'; '.join(r['devices'])} |"
                )
            lines.append("")
        sizes = acc["pattern_sizes"]
        if sizes:
            lines += ["Pattern sizes (m = int(nnz/n), mean/max |S_j|, mean/max |A_j|):", ""]
            for key, s in sorted(sizes.items()):
                cells = [f"ρ={rho}: m={v['m']}, S {v['mean_neighbors']:.1f}/{v['max_neighbors']}"
                         f", A {v['mean_ancestors']:.0f}/{v['max_ancestors']}"
                         for rho, v in s.items()]  # fmt: skip
                lines.append(f"- {key}: " + "; ".join(cells))
            lines.append("")
    wd = result.get("wide")
    if wd and wd["summary"]:
        lines += [
            "## 20 000-point 2-D Bernoulli (f = 3 sin 2πx₁ sin 2πx₂, 2 000 test points)",
            "",
            "Every method with the same frozen Matérn-3/2 prior (ℓ = 0.15, variance 2); NLL and "
            "RMSE of the true f under q(f) at the test points; s/epoch = fit s / epochs (for "
            "LatentGP including ordering, Laplace initialisation and compilation). Medians over "
            "seeds; all rows of one seed ran in the same process tree on the same machine "
            "(`_latent_gp_wide.py` lists the schedules).",
            "",
            "| method | seeds | fit s | s/epoch | NLL | RMSE |",
            "|---|---|---|---|---|---|",
        ]
        for r in wd["summary"]:
            lines.append(
                f"| {r['method']} | {r['seeds']} | {_f(r['fit_s'], '.1f')} | "
                f"{_f(r['s_per_epoch'], '.3f')} | {_f(r['nll'])} | {_f(r['rmse'])} |"
            )
        lines.append("")
    sc = result.get("scale")
    if sc and sc["rows"]:
        lines += [
            "## Scale (d = 2, Bernoulli, ρ = 2, b = 128, Matérn-3/2 ℓ = 0.1)",
            "",
            f"s/step: median over {len(sc['rows'][0].get('step_wall_all_s', []))} "
            f"chunks of {sc['rows'][0]['chunk_steps']} steps of the library's jitted step after "
            "compilation (wall; process CPU in brackets, which exceeds wall when XLA uses both "
            "cores); s/step (epoch) = one `run_epochs` epoch / (n // 128), which includes the "
            "epoch's O(n log n) permutation. RSS: peak resident set of the process (MB) and its "
            "growth over the post-import baseline; state: params + Adam moments + pattern "
            "arrays. Laplace s '–': the run started from the prior instead (``--laplace-1e6 0``;"
            " the step's shapes and cost do not depend on the starting point).",
            "",
            "| host | n | mean S / max | mean A / max | pattern s | prior cols s | Laplace s "
            "(compile) | compile epoch s | s/step | s/step (epoch) | s/epoch | RSS MB (growth) "
            "| device MB | state MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sc["rows"]:
            lines.append(
                f"| {r['host']} | {r['n']:.0e} | {r['mean_neighbors']:.1f} / "
                f"{r['max_neighbors']} | {r['mean_ancestors']:.0f} / {r['max_ancestors']} | "
                f"{r['pattern_wall_s']:.1f} | {r['prior_columns_wall_s']:.1f} | "
                f"{_f(r.get('laplace_init_wall_s'), '.1f')} "
                f"({_f(r.get('laplace_compile_s'), '.0f')}) | "
                f"{_f(r.get('epoch_compile_s'), '.0f')} | {r['step_wall_s'] * 1e3:.1f} ms "
                f"({r['step_cpu_s'] * 1e3:.1f}) | {_ms(r, 'step_from_epoch_wall_s')} "
                f"({_ms(r, 'step_from_epoch_cpu_s')}) | {_f(r.get('epoch_wall_s'), '.1f')} "
                f"({_f(r.get('epoch_cpu_s'), '.1f')}) | {r['rss_peak_mb']:.0f} "
                f"({r['rss_peak_mb'] - r['rss_base_mb']:.0f}) | {_f(r['device_peak_mb'], '.0f')} "
                f"| {r['state_bytes_mb']:.0f} |"
            )
        lines += ["", "Per-step time relative to n = 1e4 (the issue asks ≤ 2× at 1e6):", ""]
        for host, rat in sc["ratios"].items():
            cells = [
                f"n={float(n):.0e}: wall {v['step_wall']:.2f}×, cpu {v['step_cpu']:.2f}×, "
                f"epoch-based cpu {_f(v['epoch_per_step_cpu'], '.2f')}×, RSS growth "
                f"{v['rss_growth_per_point_kb']:.2f} KB/point"
                for n, v in rat.items()
            ]
            lines.append(f"- {host}: " + "; ".join(cells))
        lines.append("")
    lines += [
        f"Load average {meta['loadavg_before'][0]:.1f} before, {meta['loadavg_after'][0]:.1f} "
        f"after; {os.cpu_count()} CPUs; {meta['platform']}; jax {meta['jax']}; total "
        f"{meta['total_seconds']:.0f} s.",
    ]
    return lines


def main(args):
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    result = {"benchmark": "latent_gp", "args": vars(args)}
    if args.part in ("accuracy", "all"):
        result["accuracy"] = accuracy(args)
    if args.part in ("scale", "all"):
        result["scale"] = scale(args)
    if args.part == "wide":
        result["wide"] = wide(args)
    meta = run_meta(load_before, time.perf_counter() - t0)
    result["meta"] = meta
    if args.no_write:
        print("\n".join(markdown(result, meta)))
        return
    write_results("latent_gp", result, markdown(result, meta), quick=args.quick)


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", choices=("accuracy", "scale", "wide", "all"), default="all")
    ap.add_argument("--seeds", type=int, default=None, help="default 3 (quick: 1)")
    ap.add_argument("--likelihoods", nargs="+", default=list(LIKELIHOODS))
    ap.add_argument("--methods", default="", help="comma-separated name prefixes to compute")
    ap.add_argument("--cache", default="/tmp/latent_gp_cache")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the peers")
    ap.add_argument("--jobs", type=int, default=1, help="parallel CPU tasks (subprocesses)")
    ap.add_argument("--device-methods", default="", help="prefixes run in-process (e.g. GPU)")
    ap.add_argument("--task", nargs=3, metavar=("LIK", "SEED", "METHOD"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", nargs="+", default=None)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per n < 1e6")
    ap.add_argument("--epochs-1e6", type=int, default=1, help="timed epochs at n >= 1e6")
    ap.add_argument("--laplace-1e6", type=int, default=1, help="0: no Laplace init at 1e6")
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--max-ancestors", type=int, default=None, help="scale: cap |A_j|")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-compute", action="store_true", help="report cached results only")
    ap.add_argument("--no-write", action="store_true", help="print only (partial runs)")
    args = ap.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.sizes = args.sizes or (["1e4", "1e5"] if args.quick else ["1e4", "1e5", "1e6"])
    return args


if __name__ == "__main__":
    _args = parse()
    if _args.task:
        run_task(_args.task[0], int(_args.task[1]), _args.task[2], Path(_args.cache),
                 threads=_args.threads)  # fmt: skip
    else:
        main(_args)
