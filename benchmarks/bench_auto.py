"""``pa.fit(model, "auto")`` against each fixed family, NumPyro's autoguides and NUTS.

For every bundled posterior (plus the centred eight schools) and every method: KL(q || p) =
log Z - ELBO where log Z is known (ELBO from 10^4 draws), else the moment errors against the
reference (max |mean - ref| / ref sd, max |sd / ref sd - 1|), the ELBO ± se (comparable
across methods on one model: ELBO differences are KL differences), PSIS k̂, and the
wall-clock seconds of the fit call (``fit_seconds``, compilation included) and with the
evaluation draws (``seconds``). For ``auto`` also the rung it chose and the ladder.
Methods: ``auto``; the fixed families ``AutoMultivariateNormal``, ``AutoLaplace``,
``AutoNormal`` (mean-field), ``AutoLowRankMultivariateNormal``, ``AutoIsoGaussianMixture``
(10 components), ``AutoNormalizingFlow`` (default flow) through ``pa.fit``; ``numpyro_mvn`` /
``numpyro_iaf`` (NumPyro's ``AutoMultivariateNormal`` / ``AutoIAFNormal`` with plain
``SVI.run(progress_bar=False)``, Adam 1e-2; its ``fit_seconds`` is the ``SVI.run`` call);
``nuts`` (4 x 2000 draws after 1000 warm-up; its moments against the reference).

Every row is appended to ``results/bench_auto_rows[_PART].jsonl`` as soon as it is measured
(with the 1-minute load average), so a long run can go in parts (``--models``,
``--methods``, ``--part``); ``--fresh`` runs each (model, method) in its own Python process,
as a user's script would (JAX's one-time costs then fall on each method, not on whichever
runs first in the process). ``--report --tag A,B`` writes ``results/bench_auto.{json,md}``
(with ``--full``) from the rows: the table, and per model the best fixed family by ELBO
against auto, auto's fit seconds / the default single-Gaussian ``pa.fit``'s, and that
``pa.fit``'s / ``SVI.run``'s; medians over the models.

Run: ``.venv/bin/python benchmarks/bench_auto.py [--full] [--models NAME ...] [--methods NAME
...] [--steps 5000] [--fresh] [--tag T --part P] [--report]``. The default run is short: auto
and AutoMultivariateNormal on five models.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import numpyro  # noqa: E402
from _meta import run_meta, write_results  # noqa: E402
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO  # noqa: E402
from numpyro.infer import autoguide as ag  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.diagnostics import diagnose  # noqa: E402
from probapprox.guides import AutoIsoGaussianMixture, AutoNormalizingFlow  # noqa: E402
from probapprox.models import MODELS, get_model  # noqa: E402
from probapprox.models.eight_schools import CENTRED, nuts_reference  # noqa: E402

QUICK_MODELS = ("normal_normal", "four_modes", "banana", "funnel", "eight_schools")
QUICK_METHODS = ("auto", "AutoMultivariateNormal")
METHODS = ("auto", "AutoMultivariateNormal", "AutoLaplace", "AutoNormal",
           "AutoLowRankMultivariateNormal", "AutoIsoGaussianMixture", "AutoNormalizingFlow",
           "numpyro_mvn", "numpyro_iaf", "nuts")  # fmt: skip
FIXED = METHODS[1:7]
ROWS = Path(__file__).resolve().parent / "results"  # bench_auto_rows[_PART].jsonl


def bundle(name):
    if name == "eight_schools_centred":
        return CENTRED
    bm = get_model(name)
    if name == "eight_schools":
        return bm.__class__(**{**bm.__dict__, "reference": nuts_reference("eight_schools")})
    return bm


def moment_errors(ref, draws):
    if ref is None or ref.mean is None:
        return np.nan, np.nan
    em, es = [], []
    for site, m in ref.mean.items():
        x = np.asarray(draws[site]).reshape(len(draws[site]), -1)
        sd = np.ravel(ref.sd[site])
        em.append(np.max(np.abs(x.mean(0) - np.ravel(m)) / sd))
        es.append(np.max(np.abs(x.std(0) / sd - 1)))
    return float(max(em)), float(max(es))


def run_pa(bm, method, steps, seed):
    guide = {"AutoIsoGaussianMixture": lambda m: AutoIsoGaussianMixture(m),
             "AutoNormalizingFlow": lambda m: AutoNormalizingFlow(m)}.get(method)  # fmt: skip
    g = guide(bm.model) if guide else method
    t = time.perf_counter()
    r = pa.fit(bm.model, g, *bm.args, num_steps=steps, seed=seed, progress=False, **bm.kwargs)
    fit_s = time.perf_counter() - t
    d = r.diagnostics(10_000, seed=seed + 7, warn=False)
    fam = r.info.get("auto_family", "")
    ladder = r.info.get("auto")
    if ladder:
        print(pa.infer.format_ladder(ladder), flush=True)
    return d, r.sample(10_000, seed=seed + 8), fam, fit_s, ladder


def run_numpyro(bm, method, steps, seed):
    guide = (ag.AutoMultivariateNormal if method == "numpyro_mvn" else ag.AutoIAFNormal)(bm.model)
    svi = SVI(bm.model, guide, numpyro.optim.Adam(1e-2), Trace_ELBO())
    t = time.perf_counter()
    res = svi.run(jax.random.PRNGKey(seed), steps, *bm.args, progress_bar=False, **bm.kwargs)
    jax.block_until_ready(res.params)
    fit_s = time.perf_counter() - t
    post = guide.get_posterior(res.params)
    z = post.sample(jax.random.PRNGKey(seed + 7), (10_000,))
    log_q = post.log_prob(z)
    pot = jax.vmap(lambda u: -numpyro.infer.util.potential_energy(
        bm.model, bm.args, bm.kwargs, guide._unpack_latent(u)))(z)  # fmt: skip
    d = diagnose(np.asarray(pot), np.asarray(log_q))
    draws = guide.sample_posterior(jax.random.PRNGKey(seed + 8), res.params, sample_shape=(10_000,))
    return d, draws, "", fit_s, None


def run_nuts(bm, seed):
    mcmc = MCMC(NUTS(bm.model), num_warmup=1000, num_samples=2000, num_chains=4,
                chain_method="sequential", progress_bar=False)  # fmt: skip
    t = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), *bm.args, **bm.kwargs)
    return None, mcmc.get_samples(), "", time.perf_counter() - t, None


def one(name, method, steps, seed):
    """One (model, method) row; the fit's own seconds (``fit_seconds``) and with evaluation."""
    bm = bundle(name)
    load = os.getloadavg()[0]
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if method == "nuts":
                d, draws, fam, fit_s, ladder = run_nuts(bm, seed)
            elif method.startswith("numpyro_"):
                d, draws, fam, fit_s, ladder = run_numpyro(bm, method, steps, seed)
            else:
                d, draws, fam, fit_s, ladder = run_pa(bm, method, steps, seed)
        except Exception as err:  # noqa: BLE001 - a failed method is a row, not a crash
            return {"model": name, "method": method, "load": load,
                    "error": str(err).splitlines()[0][:100]}  # fmt: skip
    sec = time.perf_counter() - t
    ref = bm.reference
    em, es = moment_errors(ref, draws)
    kl = ref.log_Z - d.elbo if d is not None and ref is not None and ref.log_Z is not None else None
    return {"model": name, "method": method, "seconds": sec, "fit_seconds": fit_s, "kl": kl,
            "elbo": None if d is None else d.elbo, "elbo_se": None if d is None else d.elbo_se,
            "khat": None if d is None else d.pareto_k, "mean_err_sd": em, "sd_rel_err": es,
            "auto_family": fam, "ladder": ladder, "steps": steps, "seed": seed, "load": load,
            "load_after": os.getloadavg()[0]}  # fmt: skip


def fmt(x, spec=".3g"):
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def latest_rows(tags):
    """The last row of every (model, method) in ``bench_auto_rows*.jsonl`` among ``tags``.

    ``tags`` is a comma-separated list; a later tag's row replaces an earlier tag's.
    """
    order = tags.split(",")
    found = []
    for path in ROWS.glob("bench_auto_rows*.jsonl"):
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    found = [r for r in found if r.get("tag", "") in order]
    found.sort(key=lambda r: (order.index(r.get("tag", "")), r["time"]))
    return {(r["model"], r["method"]): r for r in found}


def summary(rows, names):
    """Per model: auto against the best fixed family by ELBO, and auto / Gaussian seconds."""
    out, ratios, svi = [], [], []
    for n in names:
        auto, mvn = rows.get((n, "auto")), rows.get((n, "AutoMultivariateNormal"))
        fixed = [rows[n, m] for m in FIXED if (n, m) in rows and rows[n, m].get("elbo") is not None
                 and np.isfinite(rows[n, m]["elbo"])]  # fmt: skip
        best = max(fixed, key=lambda r: r["elbo"]) if fixed else None
        ok = None
        if auto and auto.get("elbo") is not None and best:
            # no ELBO exceeds log Z: where it is known, an estimate above it is Monte Carlo noise
            top = best["elbo"]
            if best.get("kl") is not None and np.isfinite(best["kl"]):
                top = min(top, best["elbo"] + best["kl"])
            ok = bool(auto["elbo"] >= top - best["elbo_se"])
        ratio = auto["fit_seconds"] / mvn["fit_seconds"] if auto and mvn and "fit_seconds" in auto \
            and "fit_seconds" in mvn else None  # fmt: skip
        if ratio is not None:
            ratios.append(ratio)
        npm = rows.get((n, "numpyro_mvn"))
        r3 = mvn["fit_seconds"] / npm["fit_seconds"] if mvn and npm and "fit_seconds" in mvn \
            and "fit_seconds" in npm else None  # fmt: skip
        if r3 is not None:
            svi.append(r3)
        out.append({
            "model": n, "best_fixed": best and best["method"],
            "best_fixed_elbo": best and best["elbo"], "best_fixed_se": best and best["elbo_se"],
            "auto_elbo": auto and auto.get("elbo"),
            "auto_family": auto and auto.get("auto_family"), "auto_not_worse": ok,
            "time_ratio_auto_gaussian": ratio, "time_ratio_gaussian_svi_run": r3,
        })  # fmt: skip
    med = float(np.median(ratios)) if ratios else None
    med3 = float(np.median(svi)) if svi else None
    return out, med, med3


def report(tag, names, methods, *, a_full=False):
    rows = latest_rows(tag)
    got = [rows[n, m] for n in names for m in methods if (n, m) in rows]
    summ, med, med3 = summary(rows, names)
    loads = [r["load"] for r in got]
    lines = [f"bench_auto (rows tagged {tag or '-'}): {len(names)} models x {len(methods)} methods "
             f"({len(got)} rows), load {min(loads, default=0):.1f}-{max(loads, default=0):.1f} "
             "(1-min average at each row's start)", "",
             "| model | method | KL | ELBO ± se | mean err (sd) | sd rel err | k̂ | fit s | s "
             "| load | chosen / note |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in got:
        elbo = f"{fmt(r.get('elbo'), '.3f')} ± {fmt(r.get('elbo_se'), '.3f')}"
        lines.append(f"| {r['model']} | {r['method']} | {fmt(r.get('kl'))} | {elbo} | "
                     f"{fmt(r.get('mean_err_sd'))} | {fmt(r.get('sd_rel_err'))} | "
                     f"{fmt(r.get('khat'), '.2f')} | {fmt(r.get('fit_seconds'), '.1f')} | "
                     f"{fmt(r.get('seconds'), '.1f')} | {fmt(r.get('load'), '.1f')} | "
                     f"{r.get('auto_family', '') or r.get('error', '')} |")  # fmt: skip
    lines += ["", "| model | best fixed family (ELBO ± se) | auto (ELBO, rung) | auto not worse "
              "| auto / Gaussian fit s | Gaussian pa.fit / SVI.run s |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for s in summ:
        se = fmt(s["best_fixed_se"], ".3f")
        bf = f"{s['best_fixed']} ({fmt(s['best_fixed_elbo'], '.3f')} ± {se})"
        lines.append(f"| {s['model']} | {bf} | {fmt(s['auto_elbo'], '.3f')} "
                     f"{s['auto_family'] or ''} "
                     f"| {s['auto_not_worse']} | {fmt(s['time_ratio_auto_gaussian'], '.2f')} | "
                     f"{fmt(s['time_ratio_gaussian_svi_run'], '.2f')} |")  # fmt: skip
    lines += ["", f"median auto / Gaussian fit seconds: {fmt(med, '.2f')}; median Gaussian "
              f"pa.fit / SVI.run seconds: {fmt(med3, '.2f')}"]  # fmt: skip
    meta = run_meta(os.getloadavg(), 0.0)
    result = {"meta": meta, "tag": tag, "rows": got, "summary": summ,
              "median_time_ratio_auto_gaussian": med,
              "median_time_ratio_gaussian_svi": med3}  # fmt: skip
    write_results("bench_auto" if a_full else "bench_auto_" + tag.replace(",", "_"), result,
                  lines, quick=False)  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", nargs="*")
    p.add_argument("--methods", nargs="*")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true")
    p.add_argument("--tag", default="",
                   help="label of the rows (e.g. a code version); for --report a comma-separated "
                        "list, a later tag's rows replacing an earlier's")  # fmt: skip
    p.add_argument("--report", action="store_true", help="only write the tables from the rows")
    p.add_argument("--part", default="", help="suffix of this process's rows file")
    p.add_argument("--fresh", action="store_true",
                   help="every (model, method) in a fresh Python process, as a script runs "
                        "it (JAX's one-time costs paid by each method, not the first)")  # fmt: skip
    a = p.parse_args()
    every = [*MODELS, "eight_schools_centred"]
    names = a.models or (every if a.full else QUICK_MODELS)
    methods = a.methods or (METHODS if a.full else QUICK_METHODS)
    if a.report:
        report(a.tag, names, methods, a_full=a.full)
        return
    ROWS.mkdir(exist_ok=True)
    out = ROWS / f"bench_auto_rows{'_' + a.part if a.part else ''}.jsonl"
    for n in names:
        for m in methods:
            if a.fresh:
                cmd = [sys.executable, __file__, "--models", n, "--methods", m, "--tag",
                       a.tag, "--part", a.part, "--steps", str(a.steps),
                       "--seed", str(a.seed)]  # fmt: skip
                subprocess.run(cmd, check=False)
                continue
            r = {**one(n, m, a.steps, a.seed), "tag": a.tag, "time": time.time()}
            with out.open("a") as f:  # every row is kept as soon as it is measured
                f.write(json.dumps(r) + "\n")
            print(f"{n:22s} {m:24s} KL {fmt(r.get('kl'))} ELBO {fmt(r.get('elbo'), '.3f')} "
                  f"mean {fmt(r.get('mean_err_sd'))} sd {fmt(r.get('sd_rel_err'))} "
                  f"k̂ {fmt(r.get('khat'), '.2f')} fit {fmt(r.get('fit_seconds'), '.1f')} s "
                  f"all {fmt(r.get('seconds'), '.1f')} s load {r['load']:.1f} "
                  f"{r.get('auto_family', '')}{r.get('error', '')}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
