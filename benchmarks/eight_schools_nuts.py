"""Long-NUTS references for eight schools, non-centred (bundled) and centred (``CENTRED``).

NUTS (dense mass matrix, ``target_accept_prob`` 0.99 for the centred funnel), 4 chains x
``--draws`` after ``--warmup``; writes each latent site's posterior mean, sd and bulk ESS to
``models/data/eight_schools_nuts.npz`` as ``"<name>/<site>/mean"`` (etc.) and prints R̂, ESS
and the divergences (NumPyro's summary), so the reference can be judged (the centred
posterior's neck makes NUTS diverge; the non-centred run is the trustworthy one, and both
should agree on ``mu`` and ``tau``).

Run: ``.venv/bin/python benchmarks/eight_schools_nuts.py [--draws 4000] [--warmup 1500]``.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from numpyro.diagnostics import print_summary, summary  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

from probapprox.models import get_model  # noqa: E402
from probapprox.models.eight_schools import CENTRED, NUTS_FILE  # noqa: E402


def run(bm, draws, warmup, seed, accept):
    mcmc = MCMC(
        NUTS(bm.model, dense_mass=True, target_accept_prob=accept),
        num_warmup=warmup,
        num_samples=draws,
        num_chains=4,
        chain_method="sequential",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), *bm.args, extra_fields=("diverging",), **bm.kwargs)
    samples = mcmc.get_samples(group_by_chain=True)
    div = int(np.sum(mcmc.get_extra_fields()["diverging"]))
    print(f"{bm.name}: {time.perf_counter() - t0:.0f} s, {div} divergences")
    stats = summary({k: np.asarray(v) for k, v in samples.items()})
    print_summary({k: np.asarray(v) for k, v in samples.items()})
    out = {}
    for site, v in samples.items():
        flat = np.asarray(v).reshape(-1, *np.shape(v)[2:])
        ess = stats[site]["n_eff"]
        out[f"{bm.name}/{site}/mean"] = flat.mean(0)
        out[f"{bm.name}/{site}/sd"] = flat.std(0)
        out[f"{bm.name}/{site}/ess"] = np.asarray(ess)
    out[f"{bm.name}/_divergences"] = np.asarray(div)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--draws", type=int, default=4000)
    p.add_argument("--warmup", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    out = {}
    out.update(run(get_model("eight_schools"), a.draws, a.warmup, a.seed, 0.9))
    out.update(run(CENTRED, a.draws, a.warmup, a.seed, 0.99))
    np.savez(NUTS_FILE, **out)
    print(f"wrote {NUTS_FILE}")


if __name__ == "__main__":
    main()
