"""Overhead of pa.fit's chunked loop with a progress bar, against NumPyro's SVI.run.

Same model (bundled breast-cancer logistic regression), guide (AutoNormal),
estimator (Trace_ELBO), optimiser (Adam 1e-2) and number of steps for all three:

* ``pa.fit(progress=True)``: lax.scan chunks, tqdm updated between chunks;
* ``SVI.run(progress_bar=False)``: one lax.scan, no progress (the floor);
* ``SVI.run(progress_bar=True)``: a Python loop over jitted steps with tqdm.

Each is timed end to end (including compilation, as a user experiences it) over
``--repeats`` runs in fresh guides; medians are reported. Writes
``benchmarks/results/fit_overhead.json`` and prints a markdown table.

Run: ``.venv/bin/python benchmarks/bench_fit_overhead.py [--steps 5000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time
from contextlib import redirect_stderr
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from numpyro.infer import SVI, Trace_ELBO  # noqa: E402
from numpyro.infer.autoguide import AutoNormal  # noqa: E402
from numpyro.optim import Adam  # noqa: E402

import probapprox as pa  # noqa: E402
from probapprox.models import get_model  # noqa: E402


def run_pa(bm, steps, seed):
    guide = AutoNormal(bm.model)
    with redirect_stderr(io.StringIO()):
        r = pa.fit(
            bm.model,
            guide,
            *bm.args,
            num_steps=steps,
            seed=seed,
            progress=True,
            optimizer=Adam(1e-2),
            loss=Trace_ELBO(),
            warm_start=False,  # the same start and number of steps as SVI.run
            early_stop=False,
            **bm.kwargs,
        )
    return r.losses


def run_svi(bm, steps, seed, progress_bar):
    svi = SVI(bm.model, AutoNormal(bm.model), Adam(1e-2), Trace_ELBO())
    with redirect_stderr(io.StringIO()):
        res = svi.run(
            jax.random.PRNGKey(seed), steps, *bm.args, progress_bar=progress_bar, **bm.kwargs
        )
    return np.asarray(res.losses)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(args):
    bm = get_model("logistic_regression")

    def runners(steps):
        return {
            "pa.fit(progress=True)": lambda s: run_pa(bm, steps, s),
            "SVI.run(progress_bar=False)": lambda s: run_svi(bm, steps, s, False),
            "SVI.run(progress_bar=True)": lambda s: run_svi(bm, steps, s, True),
        }

    # warm-up: JAX/XLA process start-up costs are paid once, not by the first contestant
    run_svi(bm, 10, 99, False)
    run_pa(bm, 10, 99)
    sizes = (args.steps, 2 * args.steps)
    times = {n: {k: [] for k in runners(n)} for n in sizes}
    for rep in range(args.repeats):
        for n in sizes:
            for name, fn in runners(n).items():  # interleaved, so drift hits all alike
                seconds, losses = timed(lambda fn=fn, rep=rep: fn(rep))
                times[n][name].append(seconds)
                assert losses.shape == (n,)
    med = {k: statistics.median(v) for k, v in times[args.steps].items()}
    med2 = {k: statistics.median(v) for k, v in times[2 * args.steps].items()}
    # marginal cost of one more step (compilation cancels out): the loop's own efficiency
    per_step = {k: (med2[k] - med[k]) / args.steps for k in med}
    names = list(med)
    ours, floor, bar = names
    result = {
        "benchmark": "fit_overhead",
        "model": "logistic_regression (breast cancer, 569x30)",
        "guide": "AutoNormal",
        "steps": args.steps,
        "repeats": args.repeats,
        "seconds": {str(n): t for n, t in times.items()},
        "median_seconds": med,
        "median_seconds_2x_steps": med2,
        "marginal_seconds_per_step": per_step,
        "overhead_vs_svi_run_no_progress": med[ours] / med[floor] - 1.0,
        "speedup_vs_svi_run_progress_bar": med[bar] / med[ours],
        "per_step_speedup_vs_svi_run_progress_bar": per_step[bar] / per_step[ours],
        "platform": platform.platform(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
    }
    out = Path(__file__).parent / "results" / "fit_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(
        f"| runner | median s, {args.steps} steps | ratio | median s, {2 * args.steps} steps "
        "| marginal µs/step | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for k in names:
        print(
            f"| {k} | {med[k]:.3f} | {med[k] / med[floor]:.3f} | {med2[k]:.3f} | "
            f"{1e6 * per_step[k]:.1f} | {per_step[k] / per_step[floor]:.2f} |"
        )
    print(f"\n(medians of {args.repeats}; ratios against SVI.run(progress_bar=False))")
    print(
        f"pa.fit(progress=True) vs SVI.run(progress_bar=False), end to end: "
        f"{100 * result['overhead_vs_svi_run_no_progress']:+.1f}%"
    )
    print(
        f"speed-up vs SVI.run(progress_bar=True): end to end "
        f"{result['speedup_vs_svi_run_progress_bar']:.1f}x, per step "
        f"{result['per_step_speedup_vs_svi_run_progress_bar']:.1f}x"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=5)
    main(p.parse_args())
