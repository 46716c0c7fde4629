"""Accuracy part of bench_latent_gp.py: every method's q(f) at the sim1 test points.

Each (likelihood, seed, method) result — test-point means and variances of q(f), fit and
predict seconds, the device — is stored as ``<cache>/<lik>_s<seed>_<method>.npz`` and reused
when present, so slow methods can be computed on another machine (``--methods`` selects
them) and merged by copying the files into the cache. The scores are computed from the
cached predictions against the true f and the dense reference (``_latent_gp_data``).

Methods (names as in the cache):

* ``dense``: exact GP posterior (Gaussian) or optimal dense Gaussian VI (``_latent_gp_dense``),
  L-BFGS started at the ``default`` fit's training q when its cache file holds it (the
  optimum does not depend on the start, see ``_latent_gp_dense``; ``meta["moved_sd"]`` is how
  far it moved), else at the Laplace solution;
* ``sic_rho{ρ}`` / ``diag_rho{ρ}``: ``pa.gp.LatentGP(..., rho=ρ, variational="sic" |
  "diagonal")`` with its defaults (30 epochs, b = 128, Adam lr 0.01 dropping ×0.1 for the last
  5 epochs, Laplace init), hyperparameters fixed at the truth;
* ``svgp_m{m}`` / ``vnngp_k{m}``: the GPyTorch peers (``_gpytorch_peer.py``), m = the
  authors' ``int(nnz / n)`` of the ρ pattern, plus ``svgp_m500``;
* ``gpboost_k{m}`` / ``gpboostlearn_k{m}``: GPBoost's Vecchia–Laplace (``_latent_gp_gpboost.py``)
  with m = the ρ = 2 pattern's, at the true hyperparameters or estimating them;
* ``default`` / ``default_learn``: ``LatentGP`` with the library defaults (exact mode at
  n = 2000), at the true hyperparameters or learning them from ℓ = 0.5, variance 0.5.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _latent_gp_data import LENGTHSCALE, NOISE_VAR, NUGGET, matern32, scores, sim1, vs_reference
from _latent_gp_dense import dense_reference

HERE = Path(__file__).parent
TORCH_PY = Path(os.environ.get("TORCH_PYTHON", HERE.parent / ".venv-torch" / "bin" / "python"))
LIKELIHOODS = ("gaussian", "bernoulli", "poisson")
RHOS = (1.5, 2.0)
SVGP_LARGE = 500
PEERS = ("svgp", "vnngp", "gpboost")
PEER_SCHEDULE = {
    "svgp": {"epochs": 40, "lr": 0.1, "adam_lr": 0.01, "batch_size": 128},  # lr: NGD
    "vnngp": {"epochs": 250, "lr": 0.01, "batch_size": 128},
}


def device_label(jax_backend: str | None = None) -> str:
    cpus = os.cpu_count()
    return f"{jax_backend or 'cpu'} ({platform.node()[:20]}, {cpus} cpus)"


def matched_m(data: dict, rho: float) -> tuple[int, dict]:
    """The authors' m = int(nnz / n) of the ρ pattern, and the pattern's sizes."""
    from probapprox.ordering import build_pattern  # noqa: PLC0415

    p = build_pattern(data["X"], lengthscale=LENGTHSCALE, rho=rho)
    sizes = {
        "mean_neighbors": p.mean_neighbors,
        "max_neighbors": p.max_neighbors,
        "mean_ancestors": p.mean_ancestors,
        "max_ancestors": p.max_ancestors,
    }
    return int(p.nnz / p.n), sizes


def method_names(data: dict) -> tuple[list[str], dict]:
    ms = {rho: matched_m(data, rho) for rho in RHOS}
    names = ["default", "dense", "default_learn"]  # default first: the dense start
    names += [f"{v}_rho{rho}" for rho in RHOS for v in ("sic", "diag")]
    peer_m = sorted({m for m, _ in ms.values()})
    names += [f"svgp_m{m}" for m in [*peer_m, SVGP_LARGE]] + [f"vnngp_k{m}" for m in peer_m]
    names += [f"gpboost_k{ms[2.0][0]}", f"gpboostlearn_k{ms[2.0][0]}"]
    return names, {str(rho): {"m": m, **s} for rho, (m, s) in ms.items()}


def _save(path: Path, mean, var, meta: dict, **train) -> None:
    """Test-point q and meta; ``train`` (e.g. the training means and sites) is stored too."""
    train = {k: np.asarray(v) for k, v in train.items()}
    np.savez(path, mean=np.asarray(mean), var=np.asarray(var), meta=json.dumps(meta), **train)


def run_dense(data: dict, lik: str, start=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The dense reference; ``start``: ``None`` (Laplace) or the (m, λ) to start L-BFGS at."""
    K = matern32(data["X"], data["X"]) + NUGGET * np.eye(len(data["X"]))
    ks = matern32(data["X"], data["X_test"])
    kd = np.full(len(data["X_test"]), 1.0 + NUGGET)
    c0 = time.process_time()
    ref = dense_reference(lik, K, data["y"], ks, kd, noise_var=NOISE_VAR, start=start)
    info = ref["info"]
    info.pop("lam", None)
    info |= {"cpu_s": time.process_time() - c0, "load": os.getloadavg()[0]}
    return ref["mean_test"], ref["var_test"], {"fit_s": info.pop("seconds"), **info}


def run_ours(data: dict, lik: str, name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """``sic_rho{ρ}`` / ``diag_rho{ρ}``: a fixed pattern; ``default`` / ``default_learn``: the
    library defaults (``rho=None``), at the true hyperparameters or learning them from a
    deliberately wrong start (ℓ = 0.5 in every dimension, variance 0.5)."""
    import jax  # noqa: PLC0415

    import probapprox as pa  # noqa: PLC0415

    likelihood = pa.gp.Gaussian(NOISE_VAR) if lik == "gaussian" else lik
    learn = name == "default_learn"
    if name.startswith("default"):
        kernel = pa.gp.Matern32(np.full(5, 0.5), 0.5) if learn else pa.gp.Matern32(LENGTHSCALE)
        gp = pa.gp.LatentGP(kernel, likelihood, nugget=NUGGET)
    else:
        variational, rho = name.split("_rho")
        gp = pa.gp.LatentGP(
            pa.gp.Matern32(LENGTHSCALE, 1.0),
            likelihood,
            rho=float(rho),
            nugget=NUGGET,
            variational="sic" if variational == "sic" else "diagonal",
        )
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    gp.fit(data["X"], data["y"], learn_hyperparameters=learn)
    fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    # small prediction batches: predict_f's dense blocks are (batch, w, w), w = the union of
    # the conditioning points' ancestor sets (thousands at d = 5, ρ = 2)
    mean, var = gp.predict_f(data["X_test"], batch_size=32)
    meta = {
        "fit_s": fit_s,
        "fit_cpu_s": cpu_s,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "predict_s": time.perf_counter() - t0,
        "device": device_label(jax.default_backend()),
        "epochs": 30,
        "final_loss": float(gp.fitted_.history[-1]),
        "newton_steps": [int(s) for s in gp.fitted_.newton_steps],
        "num_skipped": int(gp.fitted_.num_skipped),
        "exact": bool(gp.exact_),
        "lengthscale": np.atleast_1d(np.asarray(gp.kernel_.lengthscale)).tolist(),
        "variance": float(gp.kernel_.variance),
    }
    if gp.exact_:  # the training q, a start for the dense reference
        meta["train"] = {"mean": gp.fitted_.exact.mean, "lam": gp.fitted_.exact.lam}
    return mean, var, meta


def run_peers(data: dict, lik: str, names: list[str], seed: int, threads: int) -> dict:
    """Run the GPyTorch or GPBoost peers ``names`` in one subprocess (one kind per call).

    Returns ``{name: (mean, var, meta)}``.
    """
    runs = []
    for name in names:
        method, m = name.split("_")
        run = {"method": method, "m": int(m[1:]), "seed": seed, "threads": threads}
        runs.append(run | {"learn": method == "gpboostlearn"} | PEER_SCHEDULE.get(method, {}))
    script = "_latent_gp_gpboost.py" if names[0].startswith("gpboost") else "_gpytorch_peer.py"
    with tempfile.TemporaryDirectory() as tmp:
        inp, cfg, out = (str(Path(tmp) / f) for f in ("in.npz", "runs.json", "out.npz"))
        np.savez(inp, X=data["X"], y=data["y"], X_test=data["X_test"], lengthscale=LENGTHSCALE,
                 variance=1.0, nugget=NUGGET, noise_var=NOISE_VAR, likelihood=lik)  # fmt: skip
        Path(cfg).write_text(json.dumps(runs))
        subprocess.run([str(TORCH_PY), str(HERE / script), inp, cfg, out], check=True)
        res = np.load(out)
        meta = json.loads(str(res["meta"]))
    result = {}
    for i, (name, run) in enumerate(zip(names, meta["runs"], strict=True)):
        run |= {"device": device_label(), "versions": meta["versions"]}
        result[name] = (res[f"{i}_mean"], res[f"{i}_var"], run)
    return result


def tasks(lik: str, seed: int, cache: Path, selected) -> list[tuple[str, int, str]]:
    """The selected (lik, seed, method) results not in the cache yet."""
    data = sim1(lik, seed)
    names, sizes = method_names(data)
    (cache / f"{lik}_s{seed}_sizes.json").write_text(json.dumps(sizes))
    todo = [n for n in names if selected(n) and not (cache / f"{lik}_s{seed}_{n}.npz").exists()]
    if any(n.startswith(PEERS) for n in todo) and not TORCH_PY.exists():
        print(f"  gpytorch/gpboost peers skipped: {TORCH_PY} not found")
        todo = [n for n in todo if not n.startswith(PEERS)]
    return [(lik, seed, n) for n in todo]


def run_task(lik: str, seed: int, name: str, cache: Path, *, threads: int = 1) -> None:
    """Compute one method on one data set and store it in the cache."""
    data = sim1(lik, seed)
    print(f"  {lik} seed {seed}: {name}", flush=True)
    if name.startswith(PEERS):
        ((mean, var, meta),) = run_peers(data, lik, [name], seed, threads).values()
    elif name == "dense":
        own = cache / f"{lik}_s{seed}_default.npz"
        start = None
        if lik != "gaussian" and own.exists() and "train_lam" in np.load(own):
            start = (np.load(own)["train_mean"], np.load(own)["train_lam"])
        mean, var, meta = run_dense(data, lik, start)
    else:
        mean, var, meta = run_ours(data, lik, name)
    meta.setdefault("device", device_label())
    train = {f"train_{k}": v for k, v in meta.pop("train", {}).items()}
    _save(cache / f"{lik}_s{seed}_{name}.npz", mean, var, meta, **train)


def _role(name: str, sizes: dict) -> str:
    """``svgp_m21`` -> ``svgp_m(rho2.0)`` when 21 is that seed's matched m (m varies by seed)."""
    if not name.startswith(PEERS) or name == f"svgp_m{SVGP_LARGE}":
        return name
    head, m = name.split("_")
    rho = next((r for r, v in sizes.items() if v["m"] == int(m[1:])), None)
    return name if rho is None else f"{head}_{m[0]}(rho{rho})"


def collect(lik: str, seed: int, cache: Path) -> list[dict]:
    """Score every cached method of (lik, seed) against the truth and the dense reference."""
    data = sim1(lik, seed)
    ref_path = cache / f"{lik}_s{seed}_dense.npz"
    ref = np.load(ref_path) if ref_path.exists() else None
    sizes_path = cache / f"{lik}_s{seed}_sizes.json"
    sizes = json.loads(sizes_path.read_text()) if sizes_path.exists() else {}
    rows = []
    for path in sorted(cache.glob(f"{lik}_s{seed}_*.npz")):
        name = path.stem.split(f"_s{seed}_", 1)[1]
        res = np.load(path)
        meta = json.loads(str(res["meta"]))
        row = {"likelihood": lik, "seed": seed, "method": _role(name, sizes), "name": name}
        row |= scores(res["mean"], res["var"], data["f_test"])
        if ref is not None:
            row |= vs_reference(res["mean"], res["var"], ref["mean"], ref["var"])
        row |= {k: meta.get(k) for k in ("fit_s", "predict_s", "device")}
        row["meta"] = meta
        rows.append(row)
    return rows
