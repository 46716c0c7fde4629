"""Checkpoint a long fit, interrupt it, and resume it bit-exactly.

The first run is interrupted (here by a callback, as Ctrl-C would) after a
checkpoint has been written; the second call with the same ``checkpoint`` path
resumes from it. The result equals an uninterrupted fit bit for bit.

Run: ``python examples/checkpoint_resume.py [--steps 2000] [--out ckpt_out]``.
"""

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from numpyro.infer.autoguide import AutoNormal  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.models import get_model  # noqa: E402


def main(args):
    """Run the example with parsed command-line ``args``."""
    bm = get_model("logistic_regression")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "logistic.ckpt.npz"
    ckpt.unlink(missing_ok=True)
    common = dict(num_steps=args.steps, seed=0, progress=False, **bm.kwargs)

    def stop_halfway(step, _losses):
        if step >= args.steps // 2:
            raise KeyboardInterrupt

    try:
        pa.fit(
            bm.model,
            AutoNormal(bm.model),
            *bm.args,
            checkpoint=ckpt,
            checkpoint_every=args.steps // 4,
            callback=stop_halfway,
            **common,
        )
    except KeyboardInterrupt:
        print(f"interrupted; checkpoint at {ckpt}")
    resumed = pa.fit(bm.model, AutoNormal(bm.model), *bm.args, checkpoint=ckpt, **common)
    straight = pa.fit(bm.model, AutoNormal(bm.model), *bm.args, **common)
    same = np.array_equal(resumed.losses, straight.losses) and all(
        np.array_equal(resumed.params[k], straight.params[k]) for k in straight.params
    )
    print(f"resumed fit identical to an uninterrupted one: {same}")
    assert same
    return same


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--out", default="ckpt_out")
    main(p.parse_args())
