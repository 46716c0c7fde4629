"""``pa.fit(model, "auto")`` against each fixed family, NumPyro's autoguides and NUTS.

For every bundled posterior (plus the centred eight schools) and every method: KL(q || p) =
log Z - ELBO where log Z is known (ELBO from 10^4 draws), else the moment errors against the
reference (max |mean - ref| / ref sd, max |sd / ref sd - 1|), PSIS k̂, and the wall-clock
seconds of the fit, compilation included. For ``auto`` also the rung it chose and the ladder.
Methods: ``auto``; the fixed families ``AutoLaplace``, ``AutoMultivariateNormal``,
``AutoIsoGaussianMixture`` (10 components), ``AutoNormalizingFlow`` (default flow) through
``pa.fit``; ``numpyro_mvn`` / ``numpyro_iaf`` (NumPyro's ``AutoMultivariateNormal`` /
``AutoIAFNormal`` with plain ``SVI.run``, Adam 1e-2); ``nuts`` (4 x 2000 draws; moment errors
and KL are not defined for it, its moments are reported against the reference).

Run: ``.venv/bin/python benchmarks/bench_auto.py [--models NAME ...] [--methods NAME ...]
[--steps 5000]``. The default run is short: auto and AutoMultivariateNormal on five models
(``--full`` runs every method on every model). The machine load is printed and stored.
"""

from __future__ import annotations

import argparse
import os
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
METHODS = ("auto", "AutoLaplace", "AutoMultivariateNormal", "AutoIsoGaussianMixture",
           "AutoNormalizingFlow", "numpyro_mvn", "numpyro_iaf", "nuts")  # fmt: skip


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
    r = pa.fit(bm.model, g, *bm.args, num_steps=steps, seed=seed, progress=False, **bm.kwargs)
    d = r.diagnostics(10_000, seed=seed + 7, warn=False)
    fam = r.info.get("auto_family", "")
    if fam:
        print(pa.infer.format_ladder(r.info["auto"]), flush=True)
    return d, r.sample(10_000, seed=seed + 8), fam


def run_numpyro(bm, method, steps, seed):
    guide = (ag.AutoMultivariateNormal if method == "numpyro_mvn" else ag.AutoIAFNormal)(bm.model)
    svi = SVI(bm.model, guide, numpyro.optim.Adam(1e-2), Trace_ELBO())
    res = svi.run(jax.random.PRNGKey(seed), steps, *bm.args, progress_bar=False, **bm.kwargs)
    post = guide.get_posterior(res.params)
    z = post.sample(jax.random.PRNGKey(seed + 7), (10_000,))
    log_q = post.log_prob(z)
    pot = jax.vmap(lambda u: -numpyro.infer.util.potential_energy(
        bm.model, bm.args, bm.kwargs, guide._unpack_latent(u)))(z)  # fmt: skip
    d = diagnose(np.asarray(pot), np.asarray(log_q))
    draws = guide.sample_posterior(jax.random.PRNGKey(seed + 8), res.params, sample_shape=(10_000,))
    return d, draws, ""


def run_nuts(bm, seed):
    mcmc = MCMC(NUTS(bm.model), num_warmup=1000, num_samples=2000, num_chains=4,
                chain_method="sequential", progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.PRNGKey(seed), *bm.args, **bm.kwargs)
    return None, mcmc.get_samples(), ""


def one(name, method, steps, seed):
    bm = bundle(name)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if method == "nuts":
                d, draws, fam = run_nuts(bm, seed)
            elif method.startswith("numpyro_"):
                d, draws, fam = run_numpyro(bm, method, steps, seed)
            else:
                d, draws, fam = run_pa(bm, method, steps, seed)
        except Exception as err:  # noqa: BLE001 - a failed method is a row, not a crash
            return {"model": name, "method": method, "error": str(err).splitlines()[0][:100]}
    sec = time.perf_counter() - t
    ref = bm.reference
    em, es = moment_errors(ref, draws)
    kl = ref.log_Z - d.elbo if d is not None and ref is not None and ref.log_Z is not None else None
    return {"model": name, "method": method, "seconds": sec, "kl": kl,
            "elbo": None if d is None else d.elbo, "elbo_se": None if d is None else d.elbo_se,
            "khat": None if d is None else d.pareto_k, "mean_err_sd": em, "sd_rel_err": es,
            "auto_family": fam}  # fmt: skip


def fmt(x, spec=".3g"):
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", nargs="*")
    p.add_argument("--methods", nargs="*")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true")
    a = p.parse_args()
    every = [*MODELS, "eight_schools_centred"]
    names = a.models or (every if a.full else QUICK_MODELS)
    methods = a.methods or (METHODS if a.full else QUICK_METHODS)
    load0, t0 = os.getloadavg(), time.perf_counter()
    rows = []
    for n in names:
        for m in methods:
            rows.append(one(n, m, a.steps, a.seed))
            r = rows[-1]
            print(f"{n:22s} {m:24s} KL {fmt(r.get('kl'))} mean {fmt(r.get('mean_err_sd'))} "
                  f"sd {fmt(r.get('sd_rel_err'))} k̂ {fmt(r.get('khat'), '.2f')} "
                  f"{fmt(r.get('seconds'), '.1f')} s {r.get('auto_family', '')}"
                  f"{r.get('error', '')}", flush=True)  # fmt: skip
    meta = run_meta(load0, time.perf_counter() - t0)
    lines = [f"bench_auto: {len(names)} models x {len(methods)} methods, {a.steps} steps, "
             f"load {load0[0]:.1f} -> {meta['loadavg_after'][0]:.1f}", "",
             "| model | method | KL | mean err (sd) | sd rel err | k̂ | s | chosen |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['model']} | {r['method']} | {fmt(r.get('kl'))} | "
                     f"{fmt(r.get('mean_err_sd'))} | {fmt(r.get('sd_rel_err'))} | "
                     f"{fmt(r.get('khat'), '.2f')} | {fmt(r.get('seconds'), '.1f')} | "
                     f"{r.get('auto_family', '') or r.get('error', '')} |")  # fmt: skip
    quick = not a.full
    write_results("bench_auto", {"meta": meta, "rows": rows}, lines, quick=quick)


if __name__ == "__main__":
    main()
