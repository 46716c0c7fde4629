"""Accuracy and speed of AutoNormalizingFlow against NumPyro's flow guides and FlowJAX.

Accuracy: for each target (``rezende_u1``–``rezende_u4``, ``four_modes``, ``funnel``,
``banana``, ``eight_schools``) and each guide

* ``AutoNormalizingFlow`` with ``planar``/``radial`` (``--planar-layers``) and
  ``affine_coupling``/``spline`` (``--layers``) flows, ``init_scale=1``, pa.fit's defaults for
  them (the guide's ``default_loss``: PathELBO with warm-up, or Trace_ELBO for splines; Adam
  cosine-decayed from the guide's default step);
* NumPyro's ``AutoIAFNormal`` (``--layers`` flows, same hidden widths) and ``AutoBNAFNormal``
  (one flow, hidden factors 8, 8), fitted with pa.fit and ``Trace_ELBO(particles)``;
* FlowJAX (if installed: ``pip install flowjax``, benchmark-only) masked autoregressive and
  rational-quadratic-spline coupling flows (same layers, widths, bins, tanh, ``invert=False``),
  trained by FlowJAX's ``ElboLoss`` + ``fit_to_key_based_loss`` with the same steps and draws
  per step, on the model's flat unconstrained log density;

peers use Adam cosine-decayed from 5e-3 (our coupling flows' default); ``--lr`` sets the step
of every guide. With the same number of steps for all, it reports ``KL(q||p) = log Z - ELBO``
where log Z is known (ELBO from ``--draws`` draws; for ``rezende_u1`` the KL is
``E_q[log q + U1] + 1.87750`` with the flow's own ``log q``; for ``rezende_u2``-``u4`` the box
normaliser of ``models.rezende``), else
the ELBO; ``max |Δmean|/sd`` and the range of ``sd_q/sd`` against exact moments; PSIS k̂; fit
seconds (the loop, compilation included) and wall seconds (construction + fit).

Speed: on a standard normal in ``d`` dimensions, steps per second of our affine-coupling and
spline guides (``Trace_ELBO``) against FlowJAX's coupling flows of the same architecture and
draws (its own Python loop, and the same step inside one jitted ``lax.scan``); and the cost of
``PathELBO`` (path gradient only) over ``Trace_ELBO`` for our four flows. Each figure is the
median over ``--rounds`` interleaved rounds of the median of ``--repeats`` chunks of
``--chunk`` jitted steps after the compiling one. For the MAF, FlowJAX also runs at exactly
our layers (parameter-free base, final triangular affine) against ours without the MADE skip.

XLA runs single-threaded unless ``XLA_FLAGS`` is set. Writes
``benchmarks/results/bench_flows.json`` and ``.md`` (``--quick``: ``bench_flows_quick.json``).

Run: ``python benchmarks/bench_flows.py [--quick]`` (FlowJAX rows need ``flowjax`` installed);
``--fresh`` fits every (target, guide, seed) in its own Python process, so that no fit reuses
programs another seed compiled in the same process (FlowJAX's jitted step is cached across
fits of the same shapes; ``pa.fit`` builds a new program per model): the wall times a script
sees. In parts with ``--targets``, ``--guides``, ``--seeds``, ``--no-speed`` and ``--part NAME``
(writes ``bench_flows_NAME.json``/``.md``). ``default`` is ``AutoNormalizingFlow(model)`` and
``AutoMultivariateNormal`` the full-rank Gaussian, both through every default of ``pa.fit``
(5000-step cap, stopping rule, warm start); the other guides run ``--steps`` steps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _flow_peers import (  # noqa: E402
    DEFAULT,
    FJX,
    FLOWJAX,
    GAUSSIAN,
    NUMPYRO,
    OURS,
    fit_guide,
    flowjax_draws,
    flowjax_setup,
    flowjax_train,
    peer_lr,
    time_flowjax,
    time_maths,
    time_ours,
)
from _meta import RESULTS, run_meta, write_results  # noqa: E402

from probapprox.diagnostics import diagnose  # noqa: E402
from probapprox.models import get_model  # noqa: E402
from probapprox.models.rezende import U1_LOG_Z, energy  # noqa: E402

TARGETS = ("rezende_u1", "rezende_u2", "rezende_u3", "rezende_u4", "four_modes", "funnel")
TARGETS += ("banana", "eight_schools", "logistic_regression")
GUIDES = (DEFAULT, GAUSSIAN, *OURS, *NUMPYRO, *FJX)
QUICK = {
    "targets": ["rezende_u1", "banana"],
    "guides": ["affine_coupling", FJX[0] if FLOWJAX else NUMPYRO[0]],
}


def fit_one(target, guide, cfg, draws):
    """One fit and its metrics (a row of the accuracy table)."""
    bm, t0 = get_model(target), time.perf_counter()
    row = {"target": target, "guide": guide}
    try:
        if guide in FJX:
            flow, loss, tgt = flowjax_setup(guide, bm, cfg)
            flow, losses, row["fit_seconds"] = flowjax_train(flow, loss, cfg, cfg["steps"])
            row["loss"], row["lr"] = "flowjax ElboLoss", peer_lr(cfg)
            row["wall_seconds"] = time.perf_counter() - t0
            samples, log_p, log_q = flowjax_draws(flow, tgt, draws, cfg["seed"] + 1000)
            diag = diagnose(log_p, log_q)
        else:
            g, res = fit_guide(guide, bm, cfg)
            row["fit_seconds"], losses = float(res.seconds), res.losses
            row["steps_run"] = int(np.size(res.losses))
            row["loss"] = res.info["loss"]
            row["lr"] = getattr(g, "learning_rate", peer_lr(cfg))
            row["wall_seconds"] = time.perf_counter() - t0
            diag = res.diagnostics(draws, seed=cfg["seed"] + 1000, warn=False)
            if bm.reference is not None and bm.reference.mean is not None:
                samples = res.sample(draws, seed=cfg["seed"] + 2000)
            if target == "rezende_u1" and guide in (*OURS, DEFAULT):  # KL with the own log q
                flow = g.get_posterior(res.params)
                z, lq = flow.flow.sample_and_log_prob(flow.params, jax.random.PRNGKey(3), (draws,))
                kl = np.asarray(lq + energy("u1", z)) + U1_LOG_Z
                row["kl_own_log_q"], row["kl_own_log_q_se"] = float(kl.mean()), float(kl.std())
                row["kl_own_log_q_se"] /= np.sqrt(draws)
    except Exception as e:  # a failing guide is a result, not a crash
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        return row
    row.update(elbo=diag.elbo, elbo_se=diag.elbo_se, pareto_k=diag.pareto_k, ess=diag.ess)
    row["final_loss"] = float(np.median(np.asarray(losses)[-100:]))
    row["nonfinite_warning"] = any("non-finite" in w for w in diag.warnings)
    ref = bm.reference
    if ref is not None and ref.log_Z is not None:
        row["kl"] = ref.log_Z - diag.elbo
    if ref is not None and ref.mean is not None:
        flat = {k: np.reshape(samples[k], (draws, -1)) for k in ref.sites}
        mean = np.concatenate([flat[k].mean(0) for k in ref.sites])
        sd = np.concatenate([flat[k].std(0) for k in ref.sites])
        ref_mean = np.concatenate([np.ravel(ref.mean[k]) for k in ref.sites])
        ref_sd = np.concatenate([np.ravel(ref.sd[k]) for k in ref.sites])
        row["max_abs_mean_err_over_sd"] = float(np.max(np.abs(mean - ref_mean) / ref_sd))
        row["sd_ratio_min"], row["sd_ratio_max"] = map(
            float, ((sd / ref_sd).min(), (sd / ref_sd).max())
        )
    return row


def speed(args, cfg):
    """Steps/s of ours (Trace_ELBO and PathELBO) and FlowJAX (loop and scan), per d."""
    rows = []

    def add(d, impl, flow, s, chunks=None):
        rows.append({"d": d, "impl": impl, "flow": flow, "s_per_step": s, "chunk_seconds": chunks})
        print(f"  d={d} {flow} {impl}: {1e3 * s:.3f} ms/step", flush=True)

    for rnd in range(args.rounds):  # interleaved rounds: drifts in the machine's load are shared
        print(f"  speed round {rnd + 1} of {args.rounds}", flush=True)
        for d in args.dims:
            for flow in args.speed_flows:
                speed_round(args, cfg, d, flow, add)
    return rows


def speed_round(args, cfg, d, flow, add):
    """One round of every speed figure for one (d, flow)."""
    for est in ("trace", "path"):
        add(d, f"ours/{est}", flow, *time_ours(flow, d, cfg, args.chunk, args.repeats, est))
    if flow in ("maf", "maf_spline"):  # FlowJAX's architecture: no MADE skip
        bare = {**cfg, "made_skip": False}
        add(d, "ours/trace_noskip", flow,
            *time_ours(flow, d, bare, args.chunk, args.repeats, "trace"))  # fmt: skip
    for est, s in time_maths(flow, d, cfg, args.repeats).items():
        add(d, f"maths/{est}", flow, s)
    kind = {
        "affine_coupling": "fjx_affine_coupling",
        "spline": FJX[1],
        "maf": "fjx_maf",
        "maf_spline": "fjx_maf_spline",
    }.get(flow)
    for scan in ((True,) if args.quick else (False, True)) if FLOWJAX and kind else ():
        t = time_flowjax(kind, d, cfg, args.chunk, args.repeats, scanned=scan)
        add(d, "flowjax/" + ("scan" if scan else "loop"), flow, *t)
    if FLOWJAX and flow == "maf":  # FlowJAX at exactly our layers (see _flow_peers.make_flowjax)
        t = time_flowjax("fjx_maf_ours", d, cfg, args.chunk, args.repeats, scanned=True)
        add(d, "flowjax/scan_ours_arch", flow, *t)


def _fit_fresh(target, guide, seed, args):
    """``fit_one`` in a new Python process, as a user's script runs it: JAX's one-time costs
    (eager primitives, tracing caches) are paid by every fit, and no fit reuses a program
    compiled by an earlier seed's fit in the same process."""
    out = RESULTS / f".bench_flows_row_{os.getpid()}.json"
    cmd = [sys.executable, __file__, "--targets", target, "--guides", guide, "--seed", str(seed)]
    cmd += ["--seeds", "1", "--no-speed", "--row-out", str(out), "--steps", str(args.steps)]
    cmd += ["--layers", str(args.layers), "--planar-layers", str(args.planar_layers)]
    cmd += ["--bins", str(args.bins), "--particles", str(args.particles)]
    cmd += ["--draws", str(args.draws), "--hidden", *map(str, args.hidden)]
    cmd += [] if args.lr is None else ["--lr", str(args.lr)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        row = json.loads(out.read_text())
        out.unlink()
    except (OSError, ValueError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        row = {"target": target, "guide": guide, "error": f"child failed: {tail[0][:200]}"}
    return row


def fmt(x, nd=3):
    if x is None or not np.isfinite(x):
        return str(x)
    return f"{x:.{nd}f}" if abs(x) < 1e4 else f"{x:.2e}"


def _medians(sub):
    """One row per guide: the median of every number over its seeds (a failed seed fails it)."""
    out = []
    for guide in dict.fromkeys(r["guide"] for r in sub):
        runs = [r for r in sub if r["guide"] == guide]
        bad = [r for r in runs if "error" in r]
        if bad:
            out.append(bad[0])
            continue
        row = dict(runs[0])
        for k, v in runs[0].items():
            if isinstance(v, float):
                row[k] = float(np.median([r[k] for r in runs if r.get(k) is not None]))
        out.append(row)
    return out


def accuracy_tables(rows, args):
    out = []
    for target in args.targets:
        sub = [r for r in rows if r["target"] == target]
        has_kl = any("kl" in r for r in sub)
        has_mom = any("max_abs_mean_err_over_sd" in r for r in sub)
        out.append(
            f"\n### {target} ({args.steps} steps, {args.particles} draws/step, median of "
            f"{args.seeds} seed(s))\n"
        )
        cols = ["guide", "KL ± se" if has_kl else "ELBO ± se (higher is better)"]
        cols += ["max\\|Δmean\\|/sd", "sd ratio"] if has_mom else []
        cols += ["k̂", "fit s", "wall s"]
        out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in _medians(sub):
            if "error" in r:
                out.append(f"| {r['guide']} | failed: {r['error']} |" + " |" * (len(cols) - 2))
                continue
            val = r.get("kl_own_log_q", r.get("kl", r["elbo"]))
            se = r.get("kl_own_log_q_se", r["elbo_se"])
            cells = [f"{r['guide']} ({r['loss']})", f"{fmt(val, 4)} ± {fmt(se, 4)}"]
            if has_mom:
                lo, hi = r.get("sd_ratio_min"), r.get("sd_ratio_max")
                cells += [fmt(r.get("max_abs_mean_err_over_sd")), f"{fmt(lo, 2)}–{fmt(hi, 2)}"]
            cells += [f"{r['pareto_k']:.2f}", f"{r['fit_seconds']:.1f}", f"{r['wall_seconds']:.1f}"]
            out.append("| " + " | ".join(cells) + " |")
    if not FLOWJAX:
        out.append("\n(FlowJAX rows skipped: flowjax is not installed.)")
    return out


# issue 19's acceptance bounds: KL at most, or ELBO at least, the value
ACCEPT = {"banana": ("kl", 0.05), "funnel": ("kl", 0.05)}
ACCEPT |= {"eight_schools": ("elbo", -31.30), "logistic_regression": ("elbo", -72.7)}


def acceptance_table(rows, args):
    """Default flow vs FlowJAX MAF (and the full-rank Gaussian): issue 19's rows, pass/miss."""
    if not {DEFAULT, FJX[0]} <= set(args.guides):
        return []
    out = [
        "\n### Acceptance (issue 19): default `AutoNormalizingFlow` + default `pa.fit` vs "
        "FlowJAX MAF, medians over seeds\n",
        "| target | metric | ours | FlowJAX MAF | bound | bound met | no worse than MAF "
        "| wall s ours / MAF | ELBO ours / full-rank Gaussian | no worse than Gaussian |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for target in args.targets:
        med = {r["guide"]: r for r in _medians([r for r in rows if r["target"] == target])}
        ours, fjx, gauss = med.get(DEFAULT), med.get(FJX[0]), med.get(GAUSSIAN)
        if not ours or not fjx or "error" in ours or "error" in fjx:
            out.append(f"| {target} | failed or missing |" + " |" * 8)
            continue
        kind = "kl" if "kl" in ours else "elbo"
        sign = 1.0 if kind == "elbo" else -1.0  # higher is better after the sign
        o, f = ours[kind], fjx[kind]
        metric, bound = ACCEPT.get(target, (kind, None))
        b_ok = "—" if bound is None else ("pass" if sign * o >= sign * bound else "miss")
        g = None if not gauss or "error" in gauss else gauss["elbo"]
        cells = [target, kind.upper(), fmt(o, 4), fmt(f, 4)]
        cells += ["—" if bound is None else fmt(bound, 2), b_ok]
        cells.append("pass" if sign * o >= sign * f else f"miss ({fmt(o - f, 4)})")
        wall = ours["wall_seconds"], fjx["wall_seconds"]
        cells.append(f"{wall[0]:.1f} / {wall[1]:.1f} ({'pass' if wall[0] <= wall[1] else 'miss'})")
        cells.append(f"{fmt(ours['elbo'], 3)} / {fmt(g, 3)}" if g is not None else "—")
        cells.append("—" if g is None else ("pass" if ours["elbo"] >= g else "miss"))
        out.append("| " + " | ".join(cells) + " |")
    return out


def speed_tables(rows, args):
    runs = {}
    for r in rows:
        runs.setdefault((r["d"], r["impl"], r["flow"]), []).append(r["s_per_step"])
    sps = {k: statistics.median(v) for k, v in runs.items()}  # median over rounds

    def get(d, impl, flow):
        return sps.get((d, impl, flow))

    out = [
        f"\n### Speed: standard normal in d dims, {args.particles} draws/step; each figure the "
        f"median over {args.rounds} interleaved rounds of the median of {args.repeats} chunks "
        f"of {args.chunk} steps after compilation\n",
        "| d | flow | ours steps/s (Trace_ELBO) | FlowJAX loop steps/s | FlowJAX scan steps/s "
        "| ours ÷ FlowJAX loop (steps/s) | ours ÷ FlowJAX scan | PathELBO / Trace_ELBO step time "
        "| path / standard gradient (flow maths only) | ours, no MADE skip (FlowJAX's MAF) "
        "steps/s | no skip ÷ FlowJAX scan | FlowJAX scan, our layers: steps/s "
        "| no skip ÷ FlowJAX, our layers |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in args.dims:
        for flow in args.speed_flows:
            ours, path = get(d, "ours/trace", flow), get(d, "ours/path", flow)
            fl, fs = get(d, "flowjax/loop", flow), get(d, "flowjax/scan", flow)
            cells = [str(d), flow, f"{1 / ours:.0f}"]
            cells += [f"{1 / fl:.0f}" if fl else "—", f"{1 / fs:.0f}" if fs else "—"]
            cells += [f"{fl / ours:.2f}" if fl else "—", f"{fs / ours:.2f}" if fs else "—"]
            ratio = get(d, "maths/path", flow) / get(d, "maths/standard", flow)
            cells += [f"{path / ours:.2f}", f"{ratio:.2f}"]
            bare = get(d, "ours/trace_noskip", flow)
            cells += [f"{1 / bare:.0f}" if bare else "—"]
            cells += [f"{fs / bare:.2f}" if bare and fs else "—"]
            eq = get(d, "flowjax/scan_ours_arch", flow)
            cells += [f"{1 / eq:.0f}" if eq else "—", f"{eq / bare:.2f}" if eq and bare else "—"]
            out.append("| " + " | ".join(cells) + " |")
    out.append(
        "\n*FlowJAX, our layers*: FlowJAX's MAF (same MADE widths, tanh, permutations) between a "
        "parameter-free standard normal base and a final `TriangularAffine`, the layers of our "
        '`flow="maf", made_skip=False` (FlowJAX\'s default MAF has a diagonal affine base '
        "instead of our triangular last layer)."
    )
    if not FLOWJAX:
        out.append("\n(FlowJAX columns skipped: flowjax is not installed.)")
    return out


def combine(args):
    """Tables from earlier ``--part`` runs; a later part's (target, guide) rows replace earlier."""
    rows, meta = {}, []
    for part in args.combine:
        data = json.loads((RESULTS / f"bench_flows_{part}.json").read_text())
        meta.append(f"{part}: load {data.get('loadavg_before', '?')}, {data.get('config')}")
        for r in data["rows"]:
            rows.setdefault((r["target"], r["guide"]), {})
            rows[(r["target"], r["guide"])] = rows[(r["target"], r["guide"])] | {r["seed"]: r}
    rows = [r for by_seed in rows.values() for r in by_seed.values()]
    args.targets = list(dict.fromkeys(r["target"] for r in rows))
    args.guides = list(dict.fromkeys(r["guide"] for r in rows))
    args.seeds = max(len({r["seed"] for r in rows if r["guide"] == g}) for g in args.guides)
    lines = acceptance_table(rows, args) + accuracy_tables(rows, args)
    lines.append("\n(combined parts: " + "; ".join(meta) + ")")
    write_results(
        "bench_flows",
        {"benchmark": "flows", "parts": args.combine, "rows": rows},
        lines,
        quick=False,
    )


def main(args):
    if args.combine:
        return combine(args)
    if args.quick:
        args.steps, args.draws = min(args.steps, 300), min(args.draws, 2000)
        args.targets = args.targets or QUICK["targets"]
        args.guides = args.guides or QUICK["guides"]
        args.dims, args.speed_flows, args.chunk = [10], ["affine_coupling"], min(args.chunk, 200)
        args.repeats, args.rounds = min(args.repeats, 3), 1
    args.targets, args.guides = args.targets or list(TARGETS), args.guides or list(GUIDES)
    if not FLOWJAX:
        args.guides = [g for g in args.guides if g not in FJX]
    keys = ("steps", "layers", "planar_layers", "bins", "lr", "particles", "seed")
    cfg = {k: getattr(args, k) for k in keys} | {"hidden": tuple(args.hidden)}
    load_before, t_start = os.getloadavg(), time.perf_counter()
    rows = []
    for target in () if args.speed_only else args.targets:
        for guide in args.guides:
            for seed in range(args.seed, args.seed + args.seeds):
                if args.fresh:
                    r = _fit_fresh(target, guide, seed, args)
                else:
                    r = fit_one(target, guide, cfg | {"seed": seed}, args.draws)
                if args.row_out:  # a --fresh child: hand the row to the parent and stop
                    Path(args.row_out).write_text(json.dumps(r | {"seed": seed}))
                    return
                r = r | {"seed": seed, "fresh": args.fresh, "load": os.getloadavg()[0]}
                rows.append(r)
                msg = r.get("error") or f"ELBO {fmt(r['elbo'])} k̂ {r['pareto_k']:.2f}"
                print(
                    f"  {target:<13} {guide:<20} seed {seed} {msg} "
                    f"({r.get('wall_seconds', 0):.0f} s)",
                    flush=True,
                )
    speed_rows = [] if args.no_speed else speed(args, cfg)
    total = time.perf_counter() - t_start
    lines = [] if args.speed_only else acceptance_table(rows, args) + accuracy_tables(rows, args)
    lines += speed_tables(speed_rows, args) if speed_rows else []
    lines.append(
        f"\n({jax.devices()[0]}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; "
        f"flowjax {FLOWJAX or 'not installed'}; "
        f"{'each fit in a fresh process' if args.fresh else 'all fits in one process'}; "
        f"load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; total {total:.0f} s)"
    )
    result = {
        "benchmark": "flows",
        "config": cfg,
        "draws": args.draws,
        "targets": args.targets,
        "guides": args.guides,
        "quick": args.quick,
        "flowjax": FLOWJAX,
        "rows": rows,
        "speed": {
            "dims": args.dims,
            "chunk": args.chunk,
            "repeats": args.repeats,
            "rounds": args.rounds,
        },
        "speed_rows": speed_rows,
    } | run_meta(load_before, total)
    name = "bench_flows" + (f"_{args.part}" if args.part else "")
    write_results(name, result, lines, quick=args.quick)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--targets", nargs="+", default=None, choices=TARGETS)
    p.add_argument("--guides", nargs="+", default=None, choices=GUIDES)
    p.add_argument("--layers", type=int, default=4, help="coupling / IAF / FlowJAX layers")
    p.add_argument("--planar-layers", type=int, default=8, help="planar / radial layers")
    p.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    p.add_argument("--bins", type=int, default=8)
    p.add_argument("--lr", type=float, default=None, help="Adam step for all (default: see doc)")
    p.add_argument("--particles", type=int, default=8, help="draws per step")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seeds", type=int, default=3, help="seeds per target and guide (medians)")
    p.add_argument("--draws", type=int, default=20_000, help="draws for ELBO, k̂, moments")
    p.add_argument("--dims", type=int, nargs="+", default=[10, 50], help="speed dims")
    p.add_argument("--speed-flows", nargs="+", default=list(OURS), choices=OURS)
    p.add_argument("--chunk", type=int, default=500, help="steps per timed chunk")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3, help="interleaved speed rounds (medians)")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--speed-only", action="store_true", help="only the speed part")
    p.add_argument("--quick", action="store_true", help="fast smoke run")
    p.add_argument("--part", default="", help="suffix of the result files (runs in parts)")
    p.add_argument("--combine", nargs="+", default=None, help="tables from these parts' JSON")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="every (target, guide, seed) fit in its own Python process (wall time as a "
        "script sees it; no compiled program reused across seeds)",
    )
    p.add_argument("--row-out", default="", help=argparse.SUPPRESS)
    main(p.parse_args())
