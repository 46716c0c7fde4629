"""sim1 data (DKLGP paper, methods.md Part B §1.6) and the q(f) scores of bench_latent_gp.py.

x ~ U[0,1]^5; f ~ N(0, Θ) jointly at the 2000 training and 500 test inputs, with
Θ = Matérn-3/2 ARD (ℓ = [.25, .5, .75, 1, 1.25], variance 1) + 1e-4 I; then
y | f ~ N(f, 0.01) ("gaussian"), Bernoulli(σ(f)) ("bernoulli"), Poisson(e^f) ("poisson").
Pure NumPy (float64), so the JAX side, the dense reference and the torch peers read the same
arrays.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "LENGTHSCALE",
    "NOISE_VAR",
    "NUGGET",
    "matern32",
    "sim1",
    "scores",
    "vs_reference",
]

LENGTHSCALE = np.array([0.25, 0.5, 0.75, 1.0, 1.25])
VARIANCE = 1.0
NUGGET = 1e-4
NOISE_VAR = 0.01
N_TRAIN, N_TEST = 2000, 500


def matern32(X1: np.ndarray, X2: np.ndarray, lengthscale=LENGTHSCALE, variance=VARIANCE):
    """k(r) = σ² (1 + √3 r) exp(-√3 r), r = ‖(x - x') / ℓ‖ (no nugget)."""
    a, b = X1 / lengthscale, X2 / lengthscale
    r2 = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    r = math.sqrt(3.0) * np.sqrt(np.maximum(r2, 0.0))
    return variance * (1.0 + r) * np.exp(-r)


def sim1(likelihood: str, seed: int, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict:
    """One sim1 data set: X, f, y for train and test (a fresh draw of x, f and y per seed)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    X = rng.random((n, 5))
    theta = matern32(X, X) + NUGGET * np.eye(n)
    f = np.linalg.cholesky(theta) @ rng.standard_normal(n)
    if likelihood == "gaussian":
        y = f + math.sqrt(NOISE_VAR) * rng.standard_normal(n)
    elif likelihood == "bernoulli":
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-f))).astype(np.float64)
    elif likelihood == "poisson":
        y = rng.poisson(np.exp(f)).astype(np.float64)
    else:
        raise ValueError(likelihood)
    return {
        "X": X[:n_train],
        "y": y[:n_train],
        "f": f[:n_train],
        "X_test": X[n_train:],
        "y_test": y[n_train:],
        "f_test": f[n_train:],
    }


def scores(mean: np.ndarray, var: np.ndarray, f_true: np.ndarray) -> dict:
    """RMSE of the q(f) mean and the Gaussian NLL of the true f under q(f_i), per-point mean.

    The NLL includes ½ log 2π (GPyTorch's GaussianNLLLoss, used by the authors, leaves it out:
    subtract 0.919 to compare).
    """
    mean, var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
    err = mean - f_true
    nll = 0.5 * (np.log(2 * math.pi * var) + err**2 / var)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "nll": float(np.mean(nll))}


def vs_reference(mean, var, ref_mean, ref_var) -> dict:
    """Mean |μ - μ_ref| / sd_ref and the mean and median of var / var_ref over the points."""
    z = np.abs(np.asarray(mean) - ref_mean) / np.sqrt(ref_var)
    ratio = np.asarray(var) / ref_var
    return {
        "mean_err_sd": float(np.mean(z)),
        "var_ratio": float(np.mean(ratio)),
        "var_ratio_median": float(np.median(ratio)),
    }
