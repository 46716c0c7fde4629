"""Long-NUTS references for the ill-conditioned cases of ``models/ill_conditioned.py``.

NUTS with a dense mass matrix (adapted in warm-up), 4 chains x ``--draws`` draws after
``--warmup``; writes each latent site's posterior mean, sd and bulk ESS to
``models/data/ill_conditioned_nuts.npz`` as ``"<case>/<site>/mean"`` (etc.), and prints the
ArviZ summary (R̂, ESS) so the reference can be trusted. ``unscaled_regression`` has an exact
reference and is skipped.

Run: ``.venv/bin/python benchmarks/ill_conditioned_nuts.py [--draws 3000] [--warmup 1500]
[--cases NAME ...]`` (the committed file used 3000 draws and 1500 warm-up steps per chain).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

from probapprox.models.ill_conditioned import CASES, NUTS_FILE  # noqa: E402

NAMES = ("logistic_1e4", "centred_hierarchical", "garch11")


def run(name, draws, warmup, seed):
    bm = CASES[name]
    mcmc = MCMC(
        NUTS(bm.model, dense_mass=True, target_accept_prob=0.9),
        num_warmup=warmup,
        num_samples=draws,
        num_chains=4,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), *bm.args, **bm.kwargs)
    grouped = mcmc.get_samples(group_by_chain=True)
    grouped = {k: np.asarray(v) for k, v in grouped.items()}
    summary = az.summary(grouped)
    out = {}
    for site, v in grouped.items():
        flat = v.reshape(-1, *v.shape[2:])
        ess = np.asarray(az.ess(v[..., None] if v.ndim == 2 else v, method="bulk"))
        out.update({f"{site}/mean": flat.mean(0), f"{site}/sd": flat.std(0), f"{site}/ess": ess})
    return out, summary


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", nargs="*", default=list(NAMES), choices=NAMES)
    args = parser.parse_args()
    out = {}
    if NUTS_FILE.exists():  # keep the cases not rerun
        with np.load(NUTS_FILE) as old:
            out = {k: old[k] for k in old.files if k.split("/", 1)[0] not in args.cases}
    for name in args.cases:
        t0 = time.perf_counter()
        draws, summary = run(name, args.draws, args.warmup, args.seed)
        print(f"{name}: {time.perf_counter() - t0:.0f} s")
        if summary is not None:
            print(summary)
        out.update({f"{name}/{k}": v for k, v in draws.items()})
    NUTS_FILE.parent.mkdir(exist_ok=True)
    np.savez_compressed(NUTS_FILE, **out)
    print(f"wrote {NUTS_FILE}")


if __name__ == "__main__":
    main()
