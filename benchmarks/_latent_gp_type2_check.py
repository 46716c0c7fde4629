"""Issue 20 (c): is LatentGP's learned (type-II) optimum a stationary point of the dense
reference's own converged ELBO? sim1 Bernoulli, one seed.

1. ``LatentGP`` defaults learn θ = (log ℓ₁..₅, log σ²) from ℓ = 0.5, σ² = 0.5 (exact mode).
2. ``_latent_gp_dense.dense_reference`` at the learned θ, started at the method's q, gives
   the dense-VI optimum q* (independent NumPy code; its gradient norm is reported).
3. By the envelope theorem the θ-gradient of :math:`\\max_q \\mathrm{ELBO}(q, θ)` is the
   partial gradient with q = q* held, where only :math:`-\\mathrm{KL}(q^*\\,\\|\\,N(0, K_θ))`
   depends on θ; it is taken by central differences (h = 1e-4 in log θ) of
   :math:`\\mathrm{KL} = \\tfrac12[\\mathrm{tr}(K^{-1}S) + m^\\top K^{-1} m - n + \\log|K| -
   \\log|S|]` (log|S| is constant in θ and dropped).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/_latent_gp_type2_check.py [seed]``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from _latent_gp_data import NUGGET, matern32, sim1  # noqa: E402
from _latent_gp_dense import _Posterior, dense_reference  # noqa: E402
from scipy.linalg import cho_solve, cholesky  # noqa: E402

import probapprox as pa  # noqa: E402


def neg_kl_part(theta, X, m, S):
    """-(tr(K⁻¹S) + mᵀK⁻¹m + log|K|)/2 at log-parameters θ (the θ-dependent part of -KL)."""
    K = matern32(X, X, np.exp(theta[:5]), np.exp(theta[5])) + NUGGET * np.eye(len(X))
    L = cholesky(K, lower=True)
    tr = np.trace(cho_solve((L, True), S))
    quad = m @ cho_solve((L, True), m)
    return -0.5 * (tr + quad + 2.0 * np.log(np.diag(L)).sum())


def main(seed: int = 0) -> None:
    data = sim1("bernoulli", seed)
    X, y = data["X"], data["y"]
    gp = pa.gp.LatentGP(pa.gp.Matern32(np.full(5, 0.5), 0.5), "bernoulli", nugget=NUGGET)
    t0, c0, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    gp.fit(X, y, learn_hyperparameters=True)
    fit = {"fit_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "load": load}
    ls = np.asarray(gp.kernel_.lengthscale, np.float64)
    var = float(gp.kernel_.variance)
    q = gp.fitted_.exact
    print("learned", ls.round(3), round(var, 3), "ELBO", float(q.elbo), fit, flush=True)
    theta = np.concatenate([np.log(ls), [np.log(var)]])
    K = matern32(X, X, ls, var) + NUGGET * np.eye(len(X))
    ks, kd = matern32(X, data["X_test"], ls, var), np.full(len(data["X_test"]), var + NUGGET)
    ref = dense_reference("bernoulli", K, y, ks, kd, start=(np.asarray(q.mean), np.asarray(q.lam)))
    info = {k: v for k, v in ref["info"].items() if k != "lam"}
    print("dense reference at the learned θ:", info, flush=True)
    S = _Posterior(K, ref["info"]["lam"]).S
    h = 1e-4
    grad = []
    for i in range(6):
        e = np.zeros(6)
        e[i] = h
        grad.append(
            (neg_kl_part(theta + e, X, ref["mean"], S) - neg_kl_part(theta - e, X, ref["mean"], S))
            / (2 * h)
        )
    grad = np.array(grad)
    out = {
        "seed": seed,
        "lengthscale": ls.tolist(),
        "variance": var,
        "elbo_method": float(q.elbo),
        "elbo_dense": info["elbo"],
        "dense": info,
        "grad_log_theta": grad.tolist(),
        **fit,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
