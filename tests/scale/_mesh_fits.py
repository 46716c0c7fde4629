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


def whole_model(x, y, sub=None):
    """``model`` written without the plate's indices (the usual form without subsampling)."""
    a = numpyro.sample("a", dist.Normal(0.0, 10.0))
    b = numpyro.sample("b", dist.Normal(0.0, 10.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    with numpyro.plate("n", x.shape[0]):
        numpyro.sample("y", dist.Normal(a + b * x, s), obs=y)


def collectives():
    """What the sharded gradient communicates: the gradient's all-reduce; data rows only where
    a full plate's data are indexed (``x[idx]`` of a block-split ``x``)."""
    from numpyro import handlers
    from numpyro.infer.util import log_density

    from probapprox.infer import _mesh

    mesh = _mesh.check_mesh(jax.make_mesh((4,), ("data",)), 1)
    out = {}
    for name, fn, sub in (("None", model, None), ("16", model, 16), ("whole", whole_model, None)):
        (xs, ys, _), _ = _mesh.place_args((X, Y, sub), {}, mesh, fn)

        def grad(a, xs, ys, key, sub=sub, fn=fn):
            def lp(a):
                latent = {"a": a, "b": 2.0, "s": 1.0}
                return log_density(handlers.seed(fn, key), (xs, ys, sub), {}, latent)[0]

            with _mesh.shard_subsamples(mesh):
                return jax.grad(lp)(a)

        txt = jax.jit(grad).lower(1.0, xs, ys, jax.random.PRNGKey(0)).compile().as_text()
        lines = [ln for ln in txt.splitlines() if " all-gather(" in ln]
        reduced = [ln for ln in txt.splitlines() if " all-reduce(" in ln]
        out[f"{name}-all-reduce"] = " all-reduce(" in txt or "all-reduce-start(" in txt
        out[f"{name}-gathered"] = [ln.split("=")[1].split()[0] for ln in lines]
        out[f"{name}-reduced"] = [ln.split("=")[1].split(" all-reduce(")[0] for ln in reduced]
    return out


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
                shards = res.args[0].addressable_shards
                out[f"{sub}-{d}-devices"] = len({sh.device for sh in shards})
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
    if case == "hlo":
        out.update(collectives())
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
