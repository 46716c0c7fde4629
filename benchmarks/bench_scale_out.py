"""Step time of a data-parallel ``pa.fit(mesh=...)`` against the number of devices.

Logistic regression with ``N`` points and ``D`` features (``AutoNormal``, ``Trace_ELBO``
through the default loss, Adam), once over the full data and once with
``numpyro.plate(..., subsample_size=B)``, on 1, 2 and 4 *simulated* CPU devices
(``--xla_force_host_platform_device_count=4``) and without a mesh. The step time is measured
between the ends of the jitted chunks (compilation excluded; median over chunks). On a machine
with 2 cores the simulated devices share them, so the point is the overhead of the sharded
program (collectives, layout), not a speed-up: the target is at most 1.3x the plain step at 2
devices. No GPU was available when this was written; on a GPU machine pass ``--gpu`` to time
one device against this CPU.

Writes ``benchmarks/results/scale_out.json`` and prints a markdown table.

Run: ``.venv/bin/python benchmarks/bench_scale_out.py [--n 100000] [--steps 400]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

import probapprox as pa  # noqa: E402


def model(x, y, sub=None):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    with numpyro.plate("n", x.shape[0], subsample_size=sub) as idx:
        numpyro.sample("y", dist.Bernoulli(logits=x[idx] @ w), obs=y[idx])


def step_time(x, y, sub, mesh, steps, chunk):
    ends = []
    kw = {"num_steps": steps, "chunk_size": chunk, "progress": False, "early_stop": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pa.fit(
            model,
            "AutoNormal",
            x,
            y,
            sub=sub,
            mesh=mesh,
            warm_start=False,
            callback=lambda step, _: ends.append(time.perf_counter()),
            **kw,
        )
    per_chunk = np.diff(ends) / chunk  # the first chunk (compilation) is left out
    return float(statistics.median(per_chunk))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--sub", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    load = os.getloadavg()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, args.d))
    y = (rng.uniform(size=args.n) < 1 / (1 + np.exp(-x @ rng.normal(size=args.d)))).astype(float)
    rows = []
    meshes = {d: jax.make_mesh((d,), ("data",), devices=jax.devices()[:d]) for d in (1, 2, 4)}
    for sub in (None, args.sub):
        # the configurations interleaved, ``--repeats`` fits each: thread scheduling on a
        # small machine moves one fit's step time by up to 1.5x, so one fit per cell misleads
        times: dict[int | None, list[float]] = {d: [] for d in (None, 1, 2, 4)}
        for _ in range(args.repeats):
            for d in times:
                mesh = None if d is None else meshes[d]
                times[d].append(step_time(x, y, sub, mesh, args.steps, args.chunk))
        med = {d: statistics.median(t) for d, t in times.items()}
        row = {"subsample": sub, "no_mesh_ms": 1e3 * med[None], "repeats": args.repeats}
        for d in (1, 2, 4):
            row[f"{d}_dev_ms"] = 1e3 * med[d]
            row[f"{d}_dev_ratio"] = med[d] / med[None]
            row[f"{d}_dev_ratio_to_1_dev"] = med[d] / med[1]
        rows.append(row)
    out = {
        "n": args.n,
        "d": args.d,
        "steps": args.steps,
        "cpu_count": os.cpu_count(),
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
        "devices": "simulated CPU devices (XLA_FLAGS), no GPU",
        "rows": rows,
    }
    path = Path(__file__).parent / "results" / "scale_out.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"load average {load} -> {os.getloadavg()} on {os.cpu_count()} cores")
    print("step time, median ms (ratio to no mesh / to the 1-device mesh)")
    print("| subsample | no mesh (ms) | 1 dev | 2 dev | 4 dev |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [
            f"{r[f'{d}_dev_ms']:.3f} ({r[f'{d}_dev_ratio']:.2f}x"
            f" / {r[f'{d}_dev_ratio_to_1_dev']:.2f}x)"
            for d in (1, 2, 4)
        ]
        print(f"| {r['subsample'] or 'full'} | {r['no_mesh_ms']:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
