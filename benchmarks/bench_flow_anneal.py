"""Does likelihood annealing keep a flow on both lobes of Rezende's U1?

U1 has two lobes (z1 ≈ ±2) on a ring. A mode-seeking reverse-KL fit can settle on one of
them (KL ≈ log 2 ≈ 0.69). For each seed, fit an 8-layer spline ``AutoNormalizingFlow``
started at the origin and report the exact KL(q‖p) = E_q[log q + U1] + log Z:

* ``default``: ``pa.fit``'s default estimator and optimiser;
* ``anneal``: ``PathELBO(16, path_warmup=n, anneal_steps=n // 2)``, i.e. the standard
  estimator with β_t = min(1, 0.01 + t / (n/2)) multiplying log p (Rezende & Mohamed 2015),
  and ``init_scale=3``.

Writes ``benchmarks/results/bench_flow_anneal.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer.initialization import init_to_value  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.estimators import PathELBO  # noqa: E402
from probapprox.guides import AutoNormalizingFlow  # noqa: E402
from probapprox.models import get_model  # noqa: E402
from probapprox.models.rezende import U1_LOG_Z, energy  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def u1_kl(guide, params, num=50_000):
    post = guide.get_posterior(params)
    z, log_q = post.flow.sample_and_log_prob(post.params, jax.random.PRNGKey(9), (num,))
    return float(jnp.mean(log_q + jax.vmap(lambda t: energy("u1", t))(z)) + U1_LOG_Z)


def run(setting, flow, seed, steps):
    bm = get_model("rezende_u1")
    start = init_to_value(values={"z": jnp.zeros(2)})
    if setting == "default":
        guide, loss = (
            AutoNormalizingFlow(bm.model, flow=flow, num_layers=8, init_loc_fn=start),
            None,
        )
    else:
        guide = AutoNormalizingFlow(
            bm.model, flow=flow, num_layers=8, init_loc_fn=start, init_scale=3.0
        )
        loss = PathELBO(16, path_warmup=steps, anneal_steps=steps // 2)
    t0 = time.perf_counter()
    res = pa.fit(bm.model, guide, *bm.args, num_steps=steps, seed=seed, progress=False, loss=loss)
    return {"kl": u1_kl(guide, res.params), "seconds": time.perf_counter() - t0}


def main(args):
    rows = []
    for flow in args.flows:
        for setting in ("default", "anneal"):
            for seed in range(args.seeds):
                row = {"flow": flow, "setting": setting, "seed": seed}
                row |= run(setting, flow, seed, args.steps)
                rows.append(row)
                print(f"{flow} {setting} seed={seed}: KL {row['kl']:.4f}", flush=True)
    lines = [
        f"### U1, 8 layers, {args.steps} steps, exact KL(q‖p) per seed\n",
        "| flow | setting | median KL | runs < 0.05 | worst KL | median s |",
        "|---|---|---|---|---|---|",
    ]
    for flow in args.flows:
        for setting in ("default", "anneal"):
            sel = [r for r in rows if r["flow"] == flow and r["setting"] == setting]
            kl = np.array([r["kl"] for r in sel])
            secs = np.median([r["seconds"] for r in sel])
            lines.append(
                f"| {flow} | {setting} | {np.median(kl):.3f} | {np.sum(kl < 0.05)}/{len(kl)} "
                f"| {kl.max():.3f} | {secs:.1f} |"
            )
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_flow_anneal.md").write_text(table + "\n")
    meta = {"steps": args.steps, "seeds": args.seeds, "flows": args.flows, "rows": rows}
    (RESULTS / "bench_flow_anneal.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--flows", nargs="+", default=["spline"])
    p.add_argument("--quick", action="store_true", help="2 seeds, 1000 steps")
    a = p.parse_args()
    if a.quick:
        a.steps, a.seeds = 1000, 2
    main(a)
