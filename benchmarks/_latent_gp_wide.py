"""Wide part of bench_latent_gp.py: 20 000-point 2-D Bernoulli, LatentGP against its peers.

Data: x ~ U[0,1]², f(x) = 3 sin(2πx₁) sin(2πx₂), y ~ Bernoulli(σ(f)); 20 000 train and 2 000
test points (seed = the run's seed). Every method uses the same frozen prior, Matérn-3/2 with
ℓ = 0.15 and variance 2 (f's empirical variance is 2.25), so the scores compare inference, not
hyperparameter fits: the test NLL of the true f under q(f) (with ½log2π) and its RMSE.
Methods: ``LatentGP`` with the library defaults (n > 4096: ρ = 2, 30 epochs), GPyTorch VNNGP
(k = 10, Adam lr 0.01, ``VNNGP_EPOCHS`` epochs) and SVGP (400 inducing points, NGD,
``SVGP_EPOCHS`` epochs) from ``_gpytorch_peer.py``, GPBoost Vecchia–Laplace (k = 10) from
``_latent_gp_gpboost.py``. s/epoch = fit seconds / epochs (for LatentGP this includes the
ordering, the Laplace initialisation and the compilation, so it is an upper bound on the
per-epoch cost); GPBoost has no epochs (its fit is a Newton mode search).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _latent_gp_data import scores

HERE = Path(__file__).parent
N_TRAIN, N_TEST = 20_000, 2_000
LENGTHSCALE, VARIANCE, NUGGET = 0.15, 2.0, 1e-4
VNNGP_EPOCHS, SVGP_EPOCHS = 30, 10
OURS_EPOCHS = 30


def wide_data(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.random((N_TRAIN + N_TEST, 2))
    f = 3.0 * np.sin(2 * np.pi * X[:, 0]) * np.sin(2 * np.pi * X[:, 1])
    y = (rng.random(len(f)) < 1.0 / (1.0 + np.exp(-f))).astype(np.float64)
    cut = N_TRAIN
    return {"X": X[:cut], "y": y[:cut], "f": f[:cut], "X_test": X[cut:], "f_test": f[cut:]}


def run_ours(data: dict) -> dict:
    import probapprox as pa  # noqa: PLC0415

    gp = pa.gp.LatentGP(pa.gp.Matern32(LENGTHSCALE, VARIANCE), "bernoulli", nugget=NUGGET)
    t0 = time.perf_counter()
    gp.fit(data["X"], data["y"], num_epochs=OURS_EPOCHS, learn_hyperparameters=False)
    fit_s = time.perf_counter() - t0
    mean, var = gp.predict_f(data["X_test"])
    pat = gp.pattern_
    return {"method": "latentgp_default", "mean": mean, "var": var, "fit_s": fit_s,
            "epochs": OURS_EPOCHS, "neighbours": pat.mean_neighbors,
            "ancestors": pat.mean_ancestors}  # fmt: skip


def run_peer(data: dict, script: str, runs: list[dict], torch_py: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        inp, cfg, out = (str(Path(tmp) / f) for f in ("in.npz", "runs.json", "out.npz"))
        np.savez(inp, X=data["X"], y=data["y"], X_test=data["X_test"],
                 lengthscale=np.full(2, LENGTHSCALE), variance=VARIANCE, nugget=NUGGET,
                 noise_var=0.01, likelihood="bernoulli")  # fmt: skip
        Path(cfg).write_text(json.dumps(runs))
        subprocess.run([str(torch_py), str(HERE / script), inp, cfg, out], check=True)
        res = np.load(out)
        meta = json.loads(str(res["meta"]))
    rows = []
    for i, run in enumerate(meta["runs"]):
        rows.append({"method": f"{run['method']}_{'k' if run['method'] != 'svgp' else 'm'}"
                     f"{run['m']}", "mean": res[f"{i}_mean"], "var": res[f"{i}_var"],
                     "fit_s": run["fit_s"], "epochs": run.get("epochs")})  # fmt: skip
    return rows


def _score(r: dict, data: dict, seed: int) -> dict:
    mean, var = r.pop("mean"), r.pop("var")
    r |= scores(mean, var, data["f_test"]) | {"seed": seed}
    r["s_per_epoch"] = r["fit_s"] / r["epochs"] if r.get("epochs") else None
    per_epoch = "–" if r["s_per_epoch"] is None else f"{r['s_per_epoch']:.3f}"
    print(f"  wide seed {seed} {r['method']}: fit {r['fit_s']:.1f} s, s/epoch {per_epoch}, "
          f"NLL {r['nll']:.3f}, RMSE {r['rmse']:.3f}", flush=True)  # fmt: skip
    return r


def wide(seed: int, torch_py: Path, methods: tuple[str, ...]) -> list[dict]:
    """One seed of every selected method (``ours``, ``vnngp``, ``svgp``, ``gpboost``).

    Each row is scored and printed as soon as its method finishes.
    """
    data = wide_data(seed)
    common = {"seed": seed, "threads": 1, "batch_size": 128}
    peers = {
        "vnngp": ("_gpytorch_peer.py", {"method": "vnngp", "m": 10, "lr": 0.01,
                                        "epochs": VNNGP_EPOCHS}),
        "svgp": ("_gpytorch_peer.py", {"method": "svgp", "m": 400, "lr": 0.1,
                                       "adam_lr": 0.01, "epochs": SVGP_EPOCHS}),
        "gpboost": ("_latent_gp_gpboost.py", {"method": "gpboost", "m": 10}),
    }  # fmt: skip
    out = []
    for method in methods:
        if method == "ours":
            rows = [run_ours(data)]
        else:
            script, run = peers[method]
            rows = run_peer(data, script, [run | common], torch_py)
        out += [_score(r, data, seed) for r in rows]
    return out


if __name__ == "__main__":
    import sys

    import jax

    jax.config.update("jax_enable_x64", True)
    torch_py = HERE.parent / ".venv-torch" / "bin" / "python"
    res = wide(int(sys.argv[1]), torch_py, tuple(sys.argv[2].split(",")))
    Path(sys.argv[3]).write_text(json.dumps(res, indent=1, default=float))
