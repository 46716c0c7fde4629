"""GPBoost (Vecchia–Laplace) peer for ``bench_latent_gp.py`` (runs in the ``.venv-torch`` venv).

Same file protocol as ``_gpytorch_peer.py``: ``python _latent_gp_gpboost.py DATA.npz RUNS.json
OUT.npz`` with ``DATA`` holding ``X, y, X_test``, the kernel's lengthscales and variance, the
nugget, the noise variance and the likelihood name, and each run
``{"method": "gpboost", "m": k, "learn": bool, "seed": int, "threads": int}``.

GPBoost ``GPModel(gp_approx="vecchia", num_neighbors=k, cov_function="matern_ard",
cov_fct_shape=1.5)`` with the Laplace approximation for the Bernoulli-logit and Poisson-log
likelihoods (``bernoulli_logit``, ``poisson``) and the exact Gaussian likelihood. With
``learn=False`` the covariance parameters are fixed at the truth (GPBoost's Matérn uses the
Rasmussen–Williams parametrisation, so the range is the lengthscale) and the fit is the
prediction call itself (``predict(y=..., cov_pars=...)``: mode finding plus predictive
variances); with ``learn=True`` ``fit`` estimates them first (GPBoost's default optimiser).
The latent predictive mean and variance are returned (``predict_response=False``); the 1e-4
nugget of the model is added to the variance. GPBoost is a benchmark peer only.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import sys
import time

import gpboost as gpb
import numpy as np

LIKS = {"gaussian": "gaussian", "bernoulli": "bernoulli_logit", "poisson": "poisson"}


def main(data_path, runs_path, out_path):
    data = np.load(data_path)
    runs = json.loads(open(runs_path).read())
    lik = str(data["likelihood"])
    x, y, x_test = data["X"], data["y"], data["X_test"]
    cov = np.concatenate([[float(data["variance"])], np.asarray(data["lengthscale"], float)])
    if lik == "gaussian":
        cov = np.concatenate([[float(data["noise_var"])], cov])
    out, meta = {}, []
    for i, run in enumerate(runs):
        t0 = time.perf_counter()
        model = gpb.GPModel(gp_coords=x, cov_function="matern_ard", cov_fct_shape=1.5,
                            likelihood=LIKS[lik], gp_approx="vecchia", num_neighbors=run["m"],
                            seed=run.get("seed", 0),
                            num_parallel_threads=run.get("threads", 1))  # fmt: skip
        if run.get("learn"):
            model.fit(y=y)
            pred = model.predict(gp_coords_pred=x_test, predict_var=True, predict_response=False)
        else:
            pred = model.predict(y=y, cov_pars=cov, gp_coords_pred=x_test, predict_var=True,
                                 predict_response=False)  # fmt: skip
        fit_s = time.perf_counter() - t0
        out[f"{i}_mean"] = np.asarray(pred["mu"], np.float64)
        out[f"{i}_var"] = np.asarray(pred["var"], np.float64) + float(data["nugget"])
        extra = {}
        if run.get("learn"):
            extra["cov_pars"] = np.asarray(model.get_cov_pars()).ravel().tolist()
        meta.append({**run, "fit_s": fit_s, **extra})
        print(f"  gpboost k={run['m']} learn={run.get('learn', False)}: {fit_s:.1f} s", flush=True)
    versions = {"gpboost": md.version("gpboost")}
    np.savez(out_path, meta=json.dumps({"runs": meta, "versions": versions}), **out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
