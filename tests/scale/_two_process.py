"""Two processes on 127.0.0.1 fit one data-parallel model; one process checks the result.

``worker RANK PORT DIR``: process RANK of 2 (2 simulated CPU devices each, one 4-device mesh);
writes ``DIR/two.json`` (process 0) and the checkpoint ``DIR/ckpt.npz`` of a fit interrupted
after 20 of 40 steps. ``single DIR``: the 1-process fit, and the 1-process resume of that
checkpoint; prints one JSON line.
"""

import json
import os
import sys
import warnings

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

import probapprox as pa  # noqa: E402

warnings.simplefilter("ignore")
N, SUB, STEPS = 64, 16, 40
rng = np.random.default_rng(0)
X = rng.normal(size=N)
Y = 1.0 + 2.0 * X + rng.normal(size=N)
KW = {"num_steps": STEPS, "progress": False, "early_stop": False, "seed": 3}


def model(x, y):
    a = numpyro.sample("a", dist.Normal(0.0, 10.0))
    b = numpyro.sample("b", dist.Normal(0.0, 10.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    with numpyro.plate("n", x.shape[0], subsample_size=SUB) as idx:
        numpyro.sample("y", dist.Normal(a + b * x[idx], s), obs=y[idx])


def summary(res):
    return {
        "losses": np.asarray(res.losses).tolist(),
        "params": {k: np.asarray(v).tolist() for k, v in res.params.items()},
    }


def stop_at_half(step, _losses):
    if step >= STEPS // 2:
        raise KeyboardInterrupt


def worker(rank, port, out):
    pa.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=rank)
    jax.config.update("jax_enable_x64", True)
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    rows = slice(rank * N // 2, (rank + 1) * N // 2)
    x = pa.distributed.shard_rows(X[rows], mesh)
    y = pa.distributed.shard_rows(Y[rows], mesh)
    res = pa.fit(model, "AutoNormal", x, y, mesh=mesh, **KW)
    try:
        pa.fit(
            model,
            "AutoNormal",
            x,
            y,
            mesh=mesh,
            checkpoint=os.path.join(out, "ckpt.npz"),
            checkpoint_every=STEPS // 2,
            callback=stop_at_half,
            **KW,
        )
    except KeyboardInterrupt:
        pass
    if pa.distributed.is_main_process():
        info = {"devices": jax.device_count(), "local": jax.local_device_count()}
        with open(os.path.join(out, "two.json"), "w") as f:
            json.dump({**summary(res), **info}, f)
    jax.distributed.shutdown()


def single(out):
    jax.config.update("jax_enable_x64", True)
    ref = pa.fit(model, "AutoNormal", X, Y, **KW)
    resumed = pa.fit(model, "AutoNormal", X, Y, checkpoint=os.path.join(out, "ckpt.npz"), **KW)
    print(json.dumps({"one": summary(ref), "resumed": summary(resumed)}))


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        single(sys.argv[2])
