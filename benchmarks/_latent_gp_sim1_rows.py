"""Issue 20's sim1 acceptance rows: library defaults against the dense reference, per seed.

For each seed and likelihood: ``default`` (``LatentGP`` defaults, true hyperparameters; wall
and process-CPU seconds of ``fit`` and the load average around it), then ``dense`` started at
the ``default`` fit's training q (``_latent_gp_accuracy.run_task``; the optimum does not depend
on the start, see ``_latent_gp_dense``). Prints one markdown row per (likelihood, seed) and
the medians. Run with one BLAS thread (the dense L-BFGS is ~30x faster so on a loaded
2-core machine)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/_latent_gp_sim1_rows.py \\
        --seeds 0 1 2 --cache /tmp/gpbench/cache2
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from _latent_gp_accuracy import LIKELIHOODS, run_task  # noqa: E402
from _latent_gp_data import scores, sim1, vs_reference  # noqa: E402


def row(lik: str, seed: int, cache: Path) -> dict:
    data = sim1(lik, seed)
    own, ref = (np.load(cache / f"{lik}_s{seed}_{m}.npz") for m in ("default", "dense"))
    meta, rmeta = json.loads(str(own["meta"])), json.loads(str(ref["meta"]))
    out = {"lik": lik, "seed": seed}
    out |= vs_reference(own["mean"], own["var"], ref["mean"], ref["var"])
    out |= {"rmse": scores(own["mean"], own["var"], data["f_test"])["rmse"]}
    out |= {"rmse_ref": scores(ref["mean"], ref["var"], data["f_test"])["rmse"]}
    out |= {k: meta[k] for k in ("fit_s", "fit_cpu_s", "load_before", "load_after")}
    out |= {"cvi_iters": meta["newton_steps"][0]}
    out |= {f"ref_{k}": rmeta.get(k) for k in ("start", "iterations", "grad_norm", "moved_sd")}
    out |= {"ref_s": rmeta.get("fit_s"), "ref_cpu_s": rmeta.get("cpu_s")}
    return out


def fmt(r: dict) -> str:
    ref = f"{r['ref_start'] or 'closed form'}, {r['ref_iterations']} it"
    if r["ref_moved_sd"] is not None:
        ref += f", moved {r['ref_moved_sd']:.1e} sd, |g| {r['ref_grad_norm']:.0e}"
    return (
        f"| {r['lik']} | {r['seed']} | {r['mean_err_sd']:.1e} | {r['var_ratio']:.6f} | "
        f"{r['rmse']:.3f} ({r['rmse_ref']:.3f}) | {r['fit_s']:.1f} | {r['fit_cpu_s']:.1f} | "
        f"{r['load_before']:.1f}/{r['load_after']:.1f} | {r['cvi_iters']} | {ref} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--likelihoods", nargs="+", default=list(LIKELIHOODS))
    ap.add_argument("--cache", default="/tmp/gpbench/cache2")
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        for lik in args.likelihoods:
            for name in ("default", "dense"):
                if not (cache / f"{lik}_s{seed}_{name}.npz").exists():
                    run_task(lik, seed, name, cache)
            rows.append(row(lik, seed, cache))
            print(fmt(rows[-1]), flush=True)
    head = ("likelihood", "seed", "zerr", "var ratio", "RMSE (dense)", "fit s", "CPU s", "load")
    print("| " + " | ".join((*head, "CVI", "ref")) + " |")
    for r in rows:
        print(fmt(r))
    for lik in args.likelihoods:
        sel = [r for r in rows if r["lik"] == lik]
        med = {k: statistics.median(r[k] for r in sel) for k in ("mean_err_sd", "var_ratio")}
        med |= {k: statistics.median(r[k] for r in sel) for k in ("fit_s", "fit_cpu_s")}
        print(f"median {lik} ({len(sel)} seeds): {med}")
    total = {s: sum(r["fit_s"] for r in rows if r["seed"] == s) for s in {r["seed"] for r in rows}}
    print(f"total fit s per seed (all likelihoods): {total}")


if __name__ == "__main__":
    main()
