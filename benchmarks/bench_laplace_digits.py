"""Laplace approximations of a digits MLP: probapprox against laplace-torch 0.3.

1. MAP: a 64-128-128-10 tanh MLP on the 997-row train split of ``models.digits`` (seed 0),
   loss ``Σ_n CE_n + ½·δ₀·‖θ‖²`` (a N(0, 1/δ₀) prior, δ₀ = 1, on every weight), full-batch
   optax Adam (cosine-decayed 1e-2, ``--adam-steps``) then optax L-BFGS polish
   (``--lbfgs-steps``, stops at gradient norm 1e-6), float64, fixed seed. Weights and splits
   go to a temporary ``.npz`` that the laplace-torch peer reads.
2. Ours (``_laplace_digits_ours.py``): ``pa.laplace.fit_laplace`` (GGN) for subset ∈
   {last_layer, all} × structure ∈ {kron, diag, full (last layer only: P = 26 122 for all
   weights, a 5.5 GB dense matrix, infeasible here)} × prior ∈ {marglik (scalar; layerwise
   for all/diag), grid on the validation NLL of the mean-field predictive (10^-4..10^4, 100
   values; all values in one pass over the validation Jacobians)}; predictives
   ``mean_field``, ``probit``
   (our normCDF link), ``laplace_bridge`` (zero-sum), ``mc`` (1000 draws of the logit
   Gaussian) and ``nn`` (1000 weight draws from ``Laplace.sample`` pushed through the
   network). Also the MAP and the temperature-scaled MAP (T fitted on validation NLL).
3. Metrics on test and ``shift_digits(test, 30)``: accuracy, NLL, ECE (15 bins), Brier.
   Fit seconds = curvature + prior optimisation: the first call (compilation included) and
   the median of ``--repeats`` later calls (``--slow-repeats`` for laplace-torch's grid and
   all-weight rows); predict seconds (500 test rows) likewise, for closed forms as
   median(logit Gaussian) + median(predictive on it), identically for both.
4. KL(p_ref ‖ p_method) per test point, averaged, where p_ref is a ``--ref-samples`` Monte
   Carlo of E[softmax(z)] under each configuration's real logit Gaussian (its own bias is
   about (C−1)/(2S) = 4.5e-5 for 1e5 draws), for ``KL_CONFIGS`` (a full-covariance 1e5
   reference costs ~100 s per split here); also laplace-torch's links on its own Gaussians
   for the first of them.
5. Peer (``_laplace_digits_peer.py``): ``benchmarks/_laplace_torch_peer.py`` run with
   ``.venv-torch/bin/python`` (made by ``benchmarks/setup_torch_env.sh``) on the same weights
   and data, float64, ``torch.set_num_threads(os.cpu_count())``; XLA uses its default thread
   pool (all cores). Its all-weight grid search is skipped (~50 s per grid value here); its
   gridsearch gets an offline NLL callable because the default running metric is never reset
   (see the .md).
6. Log marginal likelihood and marglik prior precision of both, and a dense last-layer check
   (exact GGN, both KFAC variants) of which value is right. The report is written by
   ``_laplace_digits_report.py``.
7. Monte Carlo spread: ``mc`` and ``nn`` are rerun for ``--spread`` seeds (the reported run
   and R − 1 others; laplace-torch's ``glm/mc`` too, and its ``nn/mc`` for the last layer,
   ~20-90 s a call for all weights). The standard deviation across seeds is the MC standard
   error of one run's metric; where laplace-torch's is not measured, ours stands in (same
   estimator, same draw count). Each target comparison is then ``≤`` (ours ≤ peer + 1e-4),
   a tie (a stochastic predictive with ours − peer ≤ 2·√(se_ours² + se_peer²)) or worse.
8. KFAC: ``--kron-bias separate`` (default) fits our kron rows with
   ``fit_laplace(kron_bias="separate")``, laplace-torch's convention (a weight block
   A_W ⊗ B and an exact bias block), so both libraries approximate the same
   matrix; ``--kron-bias joint`` uses our default homogeneous-coordinate KFAC instead.
9. Our deterministic predictives are also evaluated at laplace-torch's prior precision, so a
   difference is attributed to δ (the two marglik optimisers stop at different δ; the log ML
   column says which is higher) or, if it remains, to the curvature formula (KFAC: we fold
   the bias into the input factor, laplace-torch keeps an exact separate bias block).

Writes ``benchmarks/results/laplace_digits.json`` and ``.md`` (``--quick``: last-layer KFAC
marglik only, 200 Adam steps, 200 mc/nn draws, a 1e4-draw reference on the test split and
for ours only, one timing repeat, ``laplace_digits_quick.json`` only; about 45-60 s on an
idle machine, more under load). ``--configs subset/structure/prior,...`` runs only those
configurations (both libraries) and writes ``laplace_digits_part_quick.json`` instead.
The raw laplace-torch output is kept in ``results/laplace_digits_peer.tmp`` (git-ignored);
``--reuse-peer`` reuses it when its specification is unchanged (its ~45 min are the bulk).

Run: ``.venv/bin/python benchmarks/bench_laplace_digits.py [--quick] [--configs ...]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _laplace_digits_common import CONFIGS, QUICK_CONFIGS, row_key, train_map  # noqa: E402
from _laplace_digits_ours import at_prior_precision, map_rows, run_ours  # noqa: E402
from _laplace_digits_peer import dense_last_layer_check, peer_rows, run_peer  # noqa: E402
from _laplace_digits_report import markdown  # noqa: E402
from _meta import run_meta, write_results  # noqa: E402

from probapprox.models.digits import shift_digits, split_digits  # noqa: E402


def main(args):
    t_start, load0 = time.perf_counter(), os.getloadavg()
    split = split_digits(args.seed)
    d = {f"{a}_{s}": np.asarray(split[s][i]) for s in split for i, a in enumerate(("x", "y"))}
    d["x_shift"] = shift_digits(d["x_test"], degrees=30.0)
    params, train = train_map(d["x_train"], d["y_train"], args)
    print(f"MAP: {train}", flush=True)
    configs = QUICK_CONFIGS if args.quick else CONFIGS
    if args.configs:
        want = [tuple(c.split("/")) for c in args.configs.split(",")]
        unknown = [c for c in want if c not in CONFIGS]
        if unknown:
            raise SystemExit(f"--configs: unknown {unknown}; choose from {CONFIGS}")
        configs = [c for c in CONFIGS if c in want]
    ours, laps = [], {}
    for cfg in configs:
        t = time.perf_counter()
        row, laps[cfg] = run_ours(params, d, cfg, args)
        ours.append(row)
        print(f"ours {'/'.join(cfg)}: {time.perf_counter() - t:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        npz = str(Path(tmp) / "digits_map.npz")
        weights = {
            f"{k}{i}": np.asarray(layer[k]) for i, layer in enumerate(params) for k in ("W", "b")
        }
        np.savez(npz, **weights, **d)
        peer = run_peer(npz, configs, ours, args)
    load_peer = peer["loadavg_before"] if peer else os.getloadavg()
    theirs = peer_rows(peer, d, args) if peer else []
    for row in theirs:  # our deterministic predictives at laplace-torch's prior precision
        mine = next(r for r in ours if row_key(r) == row_key(row))
        delta = row["prior_precision"]
        mine["at_peer_delta"] = {
            "delta": delta,
            "predictives": at_prior_precision(laps[row_key(row)], delta, d, args),
        }
    check = dense_last_layer_check(params, d, ours, theirs)
    result = {
        "benchmark": "laplace_digits",
        "quick": args.quick,
        "seed": args.seed,
        "repeats": args.repeats,
        "mc_samples": args.mc,
        "spread": args.spread,
        "kron_bias": args.kron_bias,
        "configs": ["/".join(c) for c in configs],
        "ref_samples": args.ref_samples,
        "threads": os.cpu_count(),
        "train": train,
        "map": map_rows(params, d),
        "ours": ours,
        "laplace_torch": theirs,
        "peer_meta": peer["meta"] if peer else None,
        "peer_reused": bool(peer and peer.get("reused")),
        "peer_started": peer.get("started") if peer else None,
        "dense_last_layer_check": check,
        "loadavg_before_peer": load_peer,
    }
    result.update(run_meta(load0, time.perf_counter() - t_start))
    lines = markdown(result)
    part = bool(args.configs)  # a partial run never replaces the full results
    name = "laplace_digits_part" if part else "laplace_digits"
    write_results(name, result, lines, quick=args.quick or part)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--adam-steps", type=int, default=2000)
    p.add_argument("--lbfgs-steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--slow-repeats", type=int, default=1, help="repeats of the slow configurations")
    p.add_argument("--mc", type=int, default=1000, help="draws of the mc and nn predictives")
    p.add_argument("--ref-samples", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--spread",
        type=int,
        default=5,
        help="seeds of the mc/nn predictives behind their Monte Carlo spread (1: none)",
    )
    p.add_argument(
        "--configs",
        default="",
        help="comma-separated subset/structure/prior to run only those (e.g. "
        "all/kron/marglik,last_layer/diag/grid); writes laplace_digits_part_quick.json",
    )
    p.add_argument(
        "--reuse-peer",
        action="store_true",
        help="reuse the last laplace-torch output (results/laplace_digits_peer.tmp) when its "
        "specification (configurations, our δ, draws, seeds) is unchanged",
    )
    p.add_argument(
        "--kron-bias",
        choices=("separate", "joint"),
        default="separate",
        help="fit_laplace(kron_bias=...) of our kron rows; 'separate' is laplace-torch's KFAC",
    )
    p.add_argument("--quick", action="store_true", help="fast smoke run (< 60 s)")
    args = p.parse_args()
    if args.quick:
        args.adam_steps, args.lbfgs_steps, args.ref_samples, args.repeats, args.mc = (
            200,
            0,
            10_000,
            1,
            200,
        )
        args.spread = min(args.spread, 3)
    main(args)
