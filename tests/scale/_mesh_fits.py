"""Run in a subprocess with 4 simulated CPU devices; prints one JSON line of errors."""

import json
import os
import sys
import warnings

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

import probapprox as pa  # noqa: E402

warnings.simplefilter("ignore")
N = 64
rng = np.random.default_rng(0)
X = rng.normal(size=N)
Y = 1.0 + 2.0 * X + rng.normal(size=N)


def model(x, y, sub=None):
    a = numpyro.sample("a", dist.Normal(0.0, 10.0))
    b = numpyro.sample("b", dist.Normal(0.0, 10.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    with numpyro.plate("n", x.shape[0], subsample_size=sub) as idx:
        numpyro.sample("y", dist.Normal(a + b * x[idx], s), obs=y[idx])


def rel(new, ref):
    err = [np.max(np.abs(np.asarray(new.losses) - ref.losses) / np.abs(ref.losses))]
    err += [
        np.max(np.abs(new.params[k] - ref.params[k]) / np.abs(ref.params[k])) for k in ref.params
    ]
    return float(max(err))


def main(case):
    # warm_start=False: the mesh does not touch the warm start, and its compile is slow
    kw = {"num_steps": 20, "progress": False, "early_stop": False, "warm_start": False}
    out = {}
    if case == "data":
        for sub in (None, 16):
            ref = pa.fit(model, "AutoNormal", X, Y, sub=sub, **kw)
            for d in (1, 2, 4):
                mesh = jax.make_mesh((d,), ("data",), devices=jax.devices()[:d])
                res = pa.fit(model, "AutoNormal", X, Y, sub=sub, mesh=mesh, **kw)
                out[f"{sub}-{d}"] = rel(res, ref)
                out[f"{sub}-{d}-spec"] = str(res.args[0].sharding.spec)
    if case == "starts":
        kw.update(num_starts=4, warm_start=True)
        ref = pa.fit(model, "AutoNormal", X, Y, sub=16, **kw)
        for shape, names in (((4,), ("starts",)), ((2, 2), ("starts", "data"))):
            res = pa.fit(model, "AutoNormal", X, Y, sub=16, mesh=jax.make_mesh(shape, names), **kw)
            a, b = res.info["losses_all_starts"], ref.info["losses_all_starts"]
            out["-".join(names)] = float(np.max(np.abs(a - b) / np.abs(b)))
            out["-".join(names) + "-selected"] = (
                res.info["selected_start"] == ref.info["selected_start"]
            )
        mesh = jax.make_mesh((4,), ("starts",))
        placed = pa.infer._mesh.place_state(np.zeros((4, 3)), mesh, batched=True)
        out["starts-spec"] = str(placed.sharding.spec)
        out["starts-devices"] = len({s.device for s in placed.addressable_shards})
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
