"""LatentGP.fit on 4 simulated CPU devices vs 1 device; prints one JSON line."""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import probapprox as pa  # noqa: E402


def fit(X, y, mesh, epochs):
    gp = pa.gp.LatentGP(pa.gp.Matern32(lengthscale=0.3), "bernoulli", rho=1.5)
    gp.fit(X, y, num_epochs=epochs, batch_size=128, mesh=mesh)
    return gp


def main(n, epochs):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(n, 2))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-3 * np.sin(6 * X[:, 0])))).astype(float)
    ref = fit(X, y, None, epochs)
    out = {}
    for d in (1, 4):
        mesh = jax.make_mesh((d,), ("data",), devices=jax.devices()[:d])
        gp = fit(X, y, mesh, epochs)
        hist, hist0 = gp.fitted_.history, ref.fitted_.history
        err = [np.max(np.abs(hist - hist0) / np.abs(hist0))]
        for a, b in zip(gp.params_, ref.params_, strict=True):
            a, b = np.asarray(a), np.asarray(b)
            err.append(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        out[str(d)] = float(max(err))
    plain = fit(X, y, None, epochs)  # after a mesh fit, the plain fit is traced again
    out["plain-again"] = bool(np.array_equal(plain.fitted_.history, ref.fitted_.history))
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
