"""Quickstart: fit a NumPyro model, check the fit, export to ArviZ, save and reload.

Fits the bundled eight-schools model with a full-rank Gaussian guide, prints the
PSIS diagnostics, writes an ArviZ netCDF file and a saved fit, reloads the fit
without passing the data again and checks that it samples identically.

Run: ``python examples/quickstart.py [--steps 3000] [--out quickstart_out]``.
"""

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer.autoguide import AutoMultivariateNormal  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.models import get_model  # noqa: E402


def main(args):
    """Run the example with parsed command-line ``args``."""
    bm = get_model("eight_schools")
    result = pa.fit(
        bm.model,
        AutoMultivariateNormal(bm.model),
        *bm.args,
        num_steps=args.steps,
        seed=0,
        progress=not args.quiet,
        **bm.kwargs,
    )
    diag = result.diagnostics(num_samples=args.draws, warn=False)
    print(diag)

    tree = result.to_arviz(num_samples=1000)
    print(az.summary(tree, var_names=["mu", "tau"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tree.to_netcdf(out / "eight_schools.nc")

    result.save(out / "eight_schools_fit.npz")
    reloaded = pa.load(out / "eight_schools_fit.npz", bm.model)  # the data come from the file
    a, b = result.sample(100, seed=7), reloaded.sample(100, seed=7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    print(f"reloaded fit samples identically; files in {out}/")
    return diag


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--draws", type=int, default=10_000)
    p.add_argument("--out", default="quickstart_out")
    p.add_argument("--quiet", action="store_true")
    main(p.parse_args())
