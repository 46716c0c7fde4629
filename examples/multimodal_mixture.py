"""Multimodal posterior: a mixture of isotropic Gaussians against single-Gaussian guides.

Fits the bundled four-mode target with unequal mode weights (0.1, 0.3, 0.3, 0.3) with
``AutoIsoGaussianMixture`` (learned weights, IBW variance steps; Petit-Talamon, Lambert,
Korba 2025) and with ``AutoNormal`` / ``AutoMultivariateNormal``, then prints each guide's
mode masses, KL(q‖p) (log Z = 0 here, so KL = −ELBO) and PSIS k̂, and saves a scatter plot.

Run: ``python examples/multimodal_mixture.py [--steps 10000] [--out mixture_out]``.
"""

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.guides import AutoIsoGaussianMixture  # noqa: E402
from probapprox.models import get_model  # noqa: E402

QUADRANTS = [(1, 1), (-1, 1), (-1, -1), (1, -1)]


def mode_masses(x):
    """Fraction of draws in each quadrant (the modes' order in the bundled model)."""
    return np.array(
        [np.mean((np.sign(x[:, 0]) == a) & (np.sign(x[:, 1]) == b)) for a, b in QUADRANTS]
    )


def main(args):
    """Run the example with parsed command-line ``args``; returns {guide: (masses, KL, k̂)}."""
    bm = get_model("four_modes_unequal")
    guides = {
        "mixture (N=10)": AutoIsoGaussianMixture(bm.model, num_components=10),
        "AutoNormal": AutoNormal(bm.model),
        "AutoMultivariateNormal": AutoMultivariateNormal(bm.model),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(guides), figsize=(4 * len(guides), 4), sharex=True, sharey=True)
    summary = {}
    print(f"target mode weights: {bm.kwargs['weights']}")
    for ax, (name, guide) in zip(axes, guides.items(), strict=True):
        r = pa.fit(
            bm.model, guide, *bm.args, num_steps=args.steps, seed=0, progress=False, **bm.kwargs
        )
        x = r.sample(20_000, seed=1)["x"]
        d = r.diagnostics(20_000, seed=2, warn=False)
        summary[name] = (mode_masses(x), -d.elbo, d.pareto_k)
        print(
            f"{name:<24} masses {np.round(mode_masses(x), 3)}  KL {-d.elbo:.4f}  k̂ {d.pareto_k:.2f}"
        )
        ax.scatter(x[:4000, 0], x[:4000, 1], s=1, alpha=0.3)
        ax.set_title(f"{name}\nKL {-d.elbo:.3f}, k̂ {d.pareto_k:.2f}")
    fig.tight_layout()
    fig.savefig(out / "four_modes_unequal.png", dpi=90)
    print(f"plot: {out / 'four_modes_unequal.png'}")
    return summary


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--out", default="mixture_out")
    main(p.parse_args())
