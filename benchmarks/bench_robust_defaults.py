"""Robust defaults of ``pa.fit`` (warm start + whitening + stopping rule) against plain SVI + Adam.

Cases: the ill-conditioned posteriors of ``models/ill_conditioned.py`` (unscaled correlated
regression with an exact reference; logistic regression with a predictor on a scale of 1e4,
a centred hierarchical model and a GARCH(1,1), with long-NUTS references) and bundled models
(``linear_regression`` exact, ``banana`` exact moments, ``logistic_regression`` and
``eight_schools`` without a reference). Guides: AutoNormal, AutoMultivariateNormal and
probapprox's AutoNormalizingFlow (affine couplings).

Two methods with the same step budget ``--steps``:

* ``pa.fit``: defaults (PathELBO for the Gaussian guides, cosine-decayed Adam, warm start and
  whitening, early stopping);
* ``SVI+Adam``: ``numpyro.infer.SVI`` with ``numpyro.optim.Adam(1e-2)`` and ``Trace_ELBO``
  (with the flow's 8 particles for the flow), ``SVI.run`` for all steps, from the guide's own
  initialisation.

Reported per (case, guide, method), medians over ``--seeds`` seeds: steps run (and the step at
which the stopping rule fired; for SVI the rule is applied to its loss trace afterwards),
wall-clock seconds end to end (compilation included, as a user sees it), the ELBO of the
result (10^4 draws), and where a reference exists ``mean err`` = max over coordinates of
|mean − ref| / ref sd and ``sd err`` = max |sd / ref sd − 1|. A second table gives the cost of
the warm start alone (``info["warm_start_seconds"]``) on the bundled models.

Run: ``.venv/bin/python benchmarks/bench_robust_defaults.py [--steps 5000] [--seeds 3] [--quick]``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import warnings
from contextlib import redirect_stderr

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from _meta import run_meta, write_results  # noqa: E402
from numpyro.infer import SVI, Trace_ELBO  # noqa: E402
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal  # noqa: E402
from numpyro.optim import Adam  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.guides import AutoNormalizingFlow  # noqa: E402
from probapprox.infer._draws import make_sampler  # noqa: E402
from probapprox.models import get_model  # noqa: E402
from probapprox.models.ill_conditioned import CASES  # noqa: E402

ILL = ("unscaled_regression", "logistic_1e4", "centred_hierarchical", "garch11")
BUNDLED = ("linear_regression", "banana", "logistic_regression", "eight_schools")
GUIDES = {
    "AutoNormal": AutoNormal,
    "AutoMultivariateNormal": AutoMultivariateNormal,
    "AutoNormalizingFlow": lambda m: AutoNormalizingFlow(m, flow="affine_coupling", num_layers=4),
}


def case(name):
    return CASES[name] if name in CASES else get_model(name)


def moments(bm, draws):
    ref = bm.reference
    if ref is None or ref.mean is None:
        return None, None
    mean_err = sd_err = 0.0
    for site, mean in ref.mean.items():
        sd = np.asarray(ref.sd[site])
        x = draws[site].reshape(len(draws[site]), -1)
        mean_err = max(mean_err, float(np.max(np.abs(x.mean(0) - np.ravel(mean)) / np.ravel(sd))))
        sd_err = max(sd_err, float(np.max(np.abs(x.std(0) / np.ravel(sd) - 1))))
    return mean_err, sd_err


def evaluate(bm, guide, params):
    sampler = make_sampler(bm.model, guide, bm.args, bm.kwargs)
    d = sampler(10_000, 1, params)
    log_w = d.log_p - d.log_q
    elbo = float(np.mean(log_w[np.isfinite(log_w)])) if np.isfinite(log_w).any() else np.nan
    return (elbo, *moments(bm, {**d.latent, **d.deterministic}))


def run_pa(bm, guide_name, steps, seed):
    guide = GUIDES[guide_name](bm.model)
    t0 = time.perf_counter()
    with redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pa.fit(
            bm.model, guide, *bm.args, num_steps=steps, seed=seed, progress=False, **bm.kwargs
        )
    seconds = time.perf_counter() - t0
    return {
        "steps": len(r.losses),
        "converged_at": r.converged_at,
        "seconds": seconds,
        "warm_start": r.info.get("warm_start", ""),
        "warm_start_seconds": r.info.get("warm_start_seconds"),
        **dict(zip(("elbo", "mean_err", "sd_err"), evaluate(bm, guide, r.params), strict=True)),
    }


def run_svi(bm, guide_name, steps, seed):
    guide = GUIDES[guide_name](bm.model)
    loss = Trace_ELBO(getattr(guide, "num_particles", 1))
    svi = SVI(bm.model, guide, Adam(1e-2), loss)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = svi.run(jax.random.PRNGKey(seed), steps, *bm.args, progress_bar=False, **bm.kwargs)
    losses = np.asarray(out.losses)
    seconds = time.perf_counter() - t0
    rule = pa.ConvergenceRule().for_budget(steps)
    stop = rule.first_stop(losses, np.asarray(rule.checkpoints(steps, steps)))
    params = jax.tree.map(np.asarray, out.params)
    finite = all(np.all(np.isfinite(v)) for v in jax.tree.leaves(params))
    res = evaluate(bm, guide, params) if finite else (np.nan, np.nan, np.nan)
    return {
        "steps": steps,
        "converged_at": stop,
        "seconds": seconds,
        **dict(zip(("elbo", "mean_err", "sd_err"), res, strict=True)),
    }


def med(rows, key):
    vals = [r[key] for r in rows if r[key] is not None and np.isfinite(r[key])]
    return statistics.median(vals) if vals else None


def fmt(x, spec=".3g"):
    return "—" if x is None else format(x, spec)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", nargs="*", default=None)
    parser.add_argument("--guides", nargs="*", default=list(GUIDES))
    args = parser.parse_args()
    cases = args.cases or (
        ("unscaled_regression", "linear_regression") if args.quick else ILL + BUNDLED
    )
    steps, seeds = (1000, 1) if args.quick else (args.steps, args.seeds)
    load_before, t_start = os.getloadavg(), time.perf_counter()
    rows = []
    for name in cases:
        bm = case(name)
        for guide_name in args.guides:
            for method, fn in (("pa.fit", run_pa), ("SVI+Adam", run_svi)):
                runs = [fn(bm, guide_name, steps, s) for s in range(seeds)]
                conv = [r["converged_at"] for r in runs]
                row = {
                    "case": name,
                    "guide": guide_name,
                    "method": method,
                    "runs": runs,
                    **{k: med(runs, k) for k in ("steps", "seconds", "elbo", "mean_err", "sd_err")},
                    "converged": sum(c is not None for c in conv),
                    "converged_at": med([{"c": c} for c in conv], "c"),
                }
                rows.append(row)
                print(
                    name,
                    guide_name,
                    method,
                    {
                        k: row[k]
                        for k in ("steps", "seconds", "elbo", "mean_err", "sd_err", "converged")
                    },
                    flush=True,
                )
    lines = [
        f"# pa.fit robust defaults vs SVI + Adam ({steps} steps, median of {seeds} seeds)",
        "",
        "| case | guide | method | steps run | converged (step) | seconds | ELBO | mean err "
        "(sd) | sd err |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        conv = f"{r['converged']}/{seeds}" + (
            f" ({fmt(r['converged_at'], '.0f')})" if r["converged"] else ""
        )
        lines.append(
            f"| {r['case']} | {r['guide']} | {r['method']} | {fmt(r['steps'], '.0f')} | {conv} | "
            f"{fmt(r['seconds'], '.1f')} | {fmt(r['elbo'], '.2f')} | {fmt(r['mean_err'])} | "
            f"{fmt(r['sd_err'])} |"
        )
    lines += [
        "",
        "## Warm-start cost (seconds, median over seeds; compile included)",
        "",
        "| case | guide | warm start | seconds |",
        "|---|---|---|---|",
    ]
    for r in rows:
        if r["method"] == "pa.fit":
            ws = med(r["runs"], "warm_start_seconds")
            lines.append(
                f"| {r['case']} | {r['guide']} | {r['runs'][0]['warm_start'][:40]} | "
                f"{fmt(ws, '.2f')} |"
            )
    result = {
        "steps": steps,
        "seeds": seeds,
        "rows": rows,
        "meta": run_meta(load_before, time.perf_counter() - t_start),
    }
    write_results("robust_defaults", result, lines, quick=args.quick)


if __name__ == "__main__":
    main()
