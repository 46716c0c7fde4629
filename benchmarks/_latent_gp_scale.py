"""One scale measurement of LatentGP training at a given n (run in its own process).

Setting: x ~ U[0,1]², f(x) = 3 sin(2πx₁) sin(2πx₂), y ~ Bernoulli(σ(f)) (seed 0); Matérn-3/2
(ℓ = 0.1, variance 1), ρ = 2, b = 128, learning rate 0.01, hyperparameters learned (the
defaults of ``LatentGP.fit``). The phases are those of ``probapprox.gp._fit_loop.fit_stages``,
timed one by one through the library's own functions:

* ``stage_data`` (ordering + pattern + ancestor sets on the host, then the KL-optimal prior
  columns), with ``build_pattern`` timed inside it through a wrapper;
* ``laplace_init``: compiled ahead of time (``.lower().compile()``), then run (``--no-laplace``
  starts from ``prior_init`` instead, e.g. at n = 1e6 on a slow machine: the step's shapes
  and cost do not depend on the starting values);
* ``run_epochs`` for one epoch: compiled ahead of time for one epoch, then run ``epochs``
  times (each call a full pass of ``n // b`` steps, including the O(n log n) permutation;
  ``--epochs 0`` skips this phase, e.g. at n = 1e6 on a slow machine);
* fixed-length chunks of ``chunk`` steps: a jitted ``lax.scan`` of the library's step
  (``probapprox.gp._train._step``) over given batches, timed ``repeats`` times; the per-step
  time is the median over chunks / ``chunk``. This isolates the per-step cost from the
  per-epoch permutation.

Peak host memory is ``ru_maxrss`` of this process after each phase (and its growth over the
baseline after imports); on a GPU also the device's ``peak_bytes_in_use``. The wall and the
process CPU seconds are both recorded (CPU time is less sensitive to a shared machine).

Usage: ``python _latent_gp_scale.py N OUT.json [--epochs E] [--chunk S] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

import probapprox as pa  # noqa: E402
import probapprox.gp._fit_loop as fit_loop  # noqa: E402
from probapprox.families.sic_gaussian import DIAG_FLOOR  # noqa: E402
from probapprox.gp._init import laplace_init, prior_init  # noqa: E402
from probapprox.gp._train import Setup, _step, init_state, run_epochs  # noqa: E402

BATCH = 128


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def device_peak_mb() -> float | None:
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def clock():
    return time.perf_counter(), time.process_time()


def since(t):
    return time.perf_counter() - t[0], time.process_time() - t[1]


def block(tree):
    return jax.block_until_ready(tree)


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 2))
    f = 3.0 * np.sin(2 * np.pi * X[:, 0]) * np.sin(2 * np.pi * X[:, 1])
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-f))).astype(np.float64)
    return X, y


def measure(
    n: int, epochs: int, chunk: int, repeats: int, *, laplace: bool = True, cap: int | None = None
) -> dict:
    row: dict = {"n": n, "device": str(jax.devices()[0]), "platform": jax.default_backend()}
    row["max_num_ancestor"] = cap
    row["rss_base_mb"] = rss_mb()
    X, y = data(n)
    gp = pa.gp.LatentGP(pa.gp.Matern32(0.1, 1.0), "bernoulli", rho=2.0, max_num_ancestor=cap)
    lik, kernel = gp.likelihood, gp.kernel

    # --- ordering + pattern + prior columns (stage_data), build_pattern timed inside
    inner = {}
    original = fit_loop.build_pattern

    def timed_build(*a, **k):
        t = clock()
        out = original(*a, **k)
        inner["pattern_wall_s"], inner["pattern_cpu_s"] = since(t)
        return out

    fit_loop.build_pattern = timed_build
    try:
        t = clock()
        pattern, data_, u = fit_loop.stage_data(gp._config(n), kernel, X, y)
        block(u.values)
        wall, cpu = since(t)
    finally:
        fit_loop.build_pattern = original
    row |= inner
    row["prior_columns_wall_s"] = wall - inner["pattern_wall_s"]
    row["stage_data_wall_s"], row["stage_data_cpu_s"] = wall, cpu
    p = pattern
    row |= {
        "mean_neighbors": p.mean_neighbors,
        "max_neighbors": p.max_neighbors,
        "mean_ancestors": p.mean_ancestors,
        "max_ancestors": p.max_ancestors,
        "rss_after_pattern_mb": rss_mb(),
    }

    # --- Laplace init: compile, then run (or q = prior: same shapes, so the same step cost)
    mu = jnp.asarray(0.0)
    args = (u, lik, data_.y, mu, DIAG_FLOOR)
    if laplace:
        t = clock()
        init_c = laplace_init.lower(*args, diagonal=False).compile()
        row["laplace_compile_s"] = since(t)[0]
        t = clock()
        params, steps = block(init_c(*args))
        row["laplace_init_wall_s"], row["laplace_init_cpu_s"] = since(t)
        row["newton_steps"] = int(steps)
    else:
        params = block(prior_init(u, mu, DIAG_FLOOR))
    row["rss_after_init_mb"] = rss_mb()

    # --- one-epoch run_epochs: compile, then `epochs` timed calls
    hyper = {"kernel": kernel.to_unconstrained(), "likelihood": lik.to_unconstrained()}
    setup = Setup(type(kernel), BATCH, gp.nugget, DIAG_FLOOR, False, True)
    arrays = data_
    del u, args
    state = init_state(params, hyper)
    keys = jax.random.split(jax.random.PRNGKey(0), epochs + 1)
    lrs = jnp.full((1,), 0.01)
    walls, cpus = [], []
    if epochs:
        t = clock()
        epoch_c = run_epochs.lower(state, keys[:1], lrs, lik, arrays, mu, setup=setup).compile()
        row["epoch_compile_s"] = since(t)[0]
    for e in range(epochs):
        t = clock()
        state, losses, skipped = block(epoch_c(state, keys[e : e + 1], lrs, lik, arrays, mu))
        w, c = since(t)
        walls.append(w)
        cpus.append(c)
    steps_per_epoch = n // BATCH
    row["steps_per_epoch"] = steps_per_epoch
    if epochs:
        row |= {
            "epoch_wall_s": statistics.median(walls),
            "epoch_cpu_s": statistics.median(cpus),
            "epoch_wall_all_s": walls,
            "step_from_epoch_wall_s": statistics.median(walls) / steps_per_epoch,
            "step_from_epoch_cpu_s": statistics.median(cpus) / steps_per_epoch,
            "final_loss": float(np.nanmean(np.asarray(losses)[0, -20:])),
            "skipped": int(np.sum(skipped)),
        }

    # --- fixed-length chunks of the library's step
    def body(st, cols):
        return _step(st, cols, jnp.asarray(0.01), lik, arrays, mu, setup)

    chunk_fn = jax.jit(lambda st, b: lax.scan(body, st, b), donate_argnums=(0,))
    rng = np.random.default_rng(1)
    batches = [
        jnp.asarray(rng.permutation(n)[: chunk * BATCH].reshape(chunk, BATCH), jnp.int32)
        for _ in range(repeats + 1)
    ]
    t = clock()
    chunk_c = chunk_fn.lower(state, batches[0]).compile()
    row["chunk_compile_s"] = since(t)[0]
    state, _ = block(chunk_c(state, batches[0]))  # warm-up
    cw, cc = [], []
    for b in batches[1:]:
        t = clock()
        state, _ = block(chunk_c(state, b))
        w, c = since(t)
        cw.append(w / chunk)
        cc.append(c / chunk)
    row |= {
        "chunk_steps": chunk,
        "step_wall_s": statistics.median(cw),
        "step_cpu_s": statistics.median(cc),
        "step_wall_all_s": cw,
        "rss_peak_mb": rss_mb(),
        "device_peak_mb": device_peak_mb(),
    }
    m, a = p.max_neighbors, p.max_ancestors
    row["state_bytes_mb"] = (n * (3 * (m + 2) * 8 + m * 4 + a * 4 + 3 * 8)) / 2**20
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-laplace", action="store_true", help="start from q = prior instead")
    ap.add_argument("--max-ancestors", type=int, default=None, help="LatentGP max_num_ancestor")
    args = ap.parse_args()
    row = measure(
        args.n,
        args.epochs,
        args.chunk,
        args.repeats,
        laplace=not args.no_laplace,
        cap=args.max_ancestors,
    )
    with open(args.out, "w") as fh:
        json.dump(row, fh, indent=1)
    print(json.dumps({k: v for k, v in row.items() if not k.endswith("_all_s")}))


if __name__ == "__main__":
    main()
