"""Normalizing-flow guides on Rezende & Mohamed's U1 (exact log Z), against a Gaussian.

Fits ``AutoNormalizingFlow`` with planar layers (the paper's flow; PathELBO with a
standard-estimator warm-up) and with rational-quadratic spline couplings (with the paper's
likelihood annealing), and
``AutoMultivariateNormal``, to the two-lobed ring U1, whose exact log Z = 1.87750 gives
the exact KL(q‖p) = E_q[log q + U1] + log Z. Prints KL and PSIS k̂ and saves a plot of
draws from each guide.

Run: ``python examples/normalizing_flows.py [--steps 4000] [--out flows_out]``.
"""

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from numpyro.infer.autoguide import AutoMultivariateNormal  # noqa: E402
from numpyro.infer.initialization import init_to_value  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.estimators import PathELBO  # noqa: E402
from probapprox.guides import AutoNormalizingFlow  # noqa: E402
from probapprox.models import get_model  # noqa: E402
from probapprox.models.rezende import U1_LOG_Z  # noqa: E402


def main(args):
    """Run the example with parsed command-line ``args``; returns {guide: (KL, k̂)}."""
    bm = get_model("rezende_u1")
    start = init_to_value(values={"z": jnp.zeros(2)})  # centre the wide start on the ring
    guides = {
        "planar K=32": AutoNormalizingFlow(
            bm.model, flow="planar", num_layers=32, init_loc_fn=start
        ),
        "spline K=8": AutoNormalizingFlow(
            bm.model, flow="spline", num_layers=8, init_scale=3.0, init_loc_fn=start
        ),
        "AutoMultivariateNormal": AutoMultivariateNormal(bm.model, init_loc_fn=start),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(guides), figsize=(4 * len(guides), 4), sharex=True, sharey=True)
    summary = {}
    for ax, (name, guide) in zip(axes, guides.items(), strict=True):
        # Two lobes: the spline anneals the likelihood (β_t from 0.01 to 1 over the first half)
        # so that it does not settle on one lobe; see benchmarks/bench_flow_anneal.py.
        n = args.steps
        loss = PathELBO(16, path_warmup=n, anneal_steps=n // 2) if "spline" in name else None
        r = pa.fit(bm.model, guide, *bm.args, num_steps=n, seed=0, progress=False, loss=loss)
        d = r.diagnostics(20_000, seed=2, warn=False)
        kl = U1_LOG_Z - d.elbo  # exact: log Z − ELBO
        summary[name] = (kl, d.pareto_k)
        print(f"{name:<24} KL {kl:.4f}  k̂ {d.pareto_k:.2f}")
        z = r.sample(4000, seed=1)["z"]
        ax.scatter(z[:, 0], z[:, 1], s=1, alpha=0.3)
        ax.set_title(f"{name}\nKL {kl:.3f}, k̂ {d.pareto_k:.2f}")
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
    fig.tight_layout()
    fig.savefig(out / "rezende_u1_flows.png", dpi=90)
    print(f"plot: {out / 'rezende_u1_flows.png'}")
    return summary


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--out", default="flows_out")
    main(p.parse_args())
