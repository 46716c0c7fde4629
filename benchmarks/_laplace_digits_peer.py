"""laplace-torch's side of ``bench_laplace_digits.py`` (the subprocess in ``.venv-torch``).

Also the dense last-layer check of both libraries' log marginal likelihoods.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _laplace_digits_common import (
    FEAT,
    KL_CONFIGS,
    NET,
    ce_sum,
    grid_size,
    kl,
    metrics,
    repeats,
    row_key,
)
from scipy.optimize import minimize_scalar

from probapprox import logits as plg

HERE = Path(__file__).parent
TORCH_PY = Path(os.environ.get("TORCH_PYTHON", HERE.parent / ".venv-torch" / "bin" / "python"))
# the last raw peer output with its specification (git-ignored), for --reuse-peer
PEER_CACHE = HERE / "results" / "laplace_digits_peer.tmp"


def run_peer(npz, configs, ours_rows, args):
    if not TORCH_PY.exists():
        print("laplace-torch: not installed (make bench-torch-env)")
        return None
    cfgs = []
    for (subset, structure, prior), row in zip(configs, ours_rows, strict=True):
        deltas = [1.0] + ([row["prior_precision"][0]] if "layerwise" not in prior else [])
        cfg = (subset, structure, prior)
        if subset == "all" and prior == "grid":
            continue  # laplace-torch: ~50 s per grid value here (see the report)
        cfgs.append(
            {
                "subset": subset,
                "structure": structure,
                "prior": prior,
                "eval_deltas": deltas,
                "grid_size": grid_size(cfg),
                "repeats": repeats(cfg, args, peer=True),
                "default_metric_check": cfg == ("last_layer", "kron", "grid"),
                # its all-weight nn/mc costs 20-90 s a call here: spread for the last layer only
                "nn_spread": subset == "last_layer",
            }
        )
    spec = {
        "configs": cfgs,
        "mc_samples": args.mc,
        "threads": os.cpu_count(),
        "seed": args.seed,
        "batch_size": 128,
        "marglik_steps": 100,
        "spread": args.spread,
    }
    if args.reuse_peer and PEER_CACHE.exists():
        cached = json.loads(PEER_CACHE.read_text())
        if cached["spec"] == spec:
            print(f"laplace-torch: reusing {PEER_CACHE} (same specification)")
            return {**cached["out"], "reused": True}
        print(f"laplace-torch: {PEER_CACHE} has another specification; running it")
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path, out_path = Path(tmp) / "config.json", Path(tmp) / "out.json"
        cfg_path.write_text(json.dumps(spec))
        cmd = [
            str(TORCH_PY),
            str(HERE / "_laplace_torch_peer.py"),
            npz,
            str(cfg_path),
            str(out_path),
        ]
        load, started = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M")
        subprocess.run(cmd, check=True)
        out = json.loads(out_path.read_text())
    out.update(loadavg_before=load, started=started)
    PEER_CACHE.write_text(json.dumps({"spec": spec, "out": out}))
    return out


def peer_rows(peer, d, args):
    """Metrics and KL for the peer's probabilities and logit Gaussians."""
    rows = []
    for r in peer["rows"]:
        keep = (
            "subset",
            "structure",
            "prior",
            "fit_first_s",
            "fit_s",
            "prior_precision",
            "log_marglik",
            "log_marglik_at",
            "repeats",
            "grid_size",
            "moment_times",
            "default_metric_prior_precision",
        )
        row = {k: r[k] for k in keep if k in r}
        row.update(library="laplace-torch", predictives={}, kl={})
        for name, res in r["predictives"].items():
            row["predictives"][name] = {
                "predict_first_s": res["predict_first_s"],
                "predict_s": res["predict_s"],
                **{s: metrics(np.asarray(res["probs"][s]), d["y_test"]) for s in ("test", "shift")},
            }
            if res.get("spread_probs"):
                row.setdefault("spread", {})[name] = _spread(res, d["y_test"])
        splits = () if args.quick else ("test", "shift")
        for split in splits if row_key(r) == KL_CONFIGS[0] else ():
            g = r["moments"][split]
            mean, cov = jnp.asarray(g["mean"]), jnp.asarray(g["cov"])
            ref = plg.predictive(
                mean, cov, "mc", key=jax.random.PRNGKey(7), num_samples=args.ref_samples
            )
            row["kl"][split] = {
                n: kl(ref, np.asarray(r["predictives"][n]["probs"][split]))
                for n in ("glm/probit", "glm/bridge", "glm/bridge_norm", "glm/mc")
            }
        rows.append(row)
    return rows


def _spread(res, y):
    """Metrics of the reported run and of each further seed, ``{split: {metric: [...]}}``."""
    out = {}
    for split, extra in res["spread_probs"].items():
        runs = [metrics(np.asarray(p), y) for p in (res["probs"][split], *extra)]
        out[split] = {k: [m[k] for m in runs] for k in runs[0]}
    return out


def _lml(spec, delta, nll, theta2):
    """Laplace log evidence −NLL − ½[Σ log(λ+δ) − P log δ + δ‖θ‖²] for a curvature spectrum."""
    return float(
        -nll - 0.5 * (np.sum(np.log(spec + delta)) - spec.size * np.log(delta) + delta * theta2)
    )


def dense_last_layer_check(params, d, ours, theirs):
    """Last-layer log evidence from dense spectra: exact GGN, our KFAC, laplace-torch's KFAC.

    KFAC joint (our ``kron_bias="joint"``, the default): A = Σ[φ;1][φ;1]ᵀ (bias folded into
    the weight block), B = mean Λ_n. KFAC separate (our ``kron_bias="separate"``; laplace-torch
    through curvlinops, ``separate_weight_and_bias=True``): W block (Σφφᵀ) ⊗ mean Λ_n and a
    separate exact bias block Σ Λ_n. The exact GGN Σ_n [φ;1][φ;1]ᵀ ⊗ Λ_n is assembled densely
    in NumPy.
    """
    x, y = jnp.asarray(d["x_train"]), jnp.asarray(d["y_train"])
    phi = np.asarray(FEAT(params, x))
    p = np.asarray(jax.nn.softmax(NET(params, x), -1))
    lam = np.einsum("nc,cd->ncd", p, np.eye(p.shape[1])) - np.einsum("nc,nd->ncd", p, p)
    b = lam.mean(0)
    eb = np.linalg.eigvalsh(b)
    phi1 = np.concatenate([phi, np.ones((len(phi), 1))], 1)
    # exact GGN Σ_n φ̃φ̃ᵀ ⊗ Λ_n in the row-major vec([W; bᵀ]) order, in NumPy (independent)
    h, c = phi1.shape[1], p.shape[1]
    ggn = np.einsum("nh,nk,ncd->hckd", phi1, phi1, lam, optimize=True).reshape(h * c, h * c)
    spectra = {
        "exact GGN": np.linalg.eigvalsh(ggn),
        "KFAC joint": np.outer(np.linalg.eigvalsh(phi1.T @ phi1), eb).ravel(),
        "KFAC separate": np.concatenate(
            [
                np.outer(np.linalg.eigvalsh(phi.T @ phi), eb).ravel(),
                np.linalg.eigvalsh(len(phi) * b),
            ]
        ),
    }
    spectra = {k: np.maximum(v, 0.0) for k, v in spectra.items()}
    nll = float(ce_sum(params, x, y))
    theta2 = float(sum(np.sum(np.asarray(params[-1][k]) ** 2) for k in ("W", "b")))
    out = {"nll_map": nll, "optimum": {}, "at_delta": {}}
    for name, spec in spectra.items():
        r = minimize_scalar(
            lambda t, s=spec: -_lml(s, np.exp(t), nll, theta2), bounds=(-8, 8), method="bounded"
        )
        out["optimum"][name] = {"delta": float(np.exp(r.x)), "log_marglik": -float(r.fun)}
    pick = [("ours", r) for r in ours] + [("laplace-torch", r) for r in theirs]
    deltas = {}
    for lib, r in pick:
        if (r["subset"], r["structure"], r["prior"]) == ("last_layer", "kron", "marglik"):
            out["optimum"][f"{lib} reported"] = {
                "delta": r["prior_precision"][0],
                "log_marglik": r["log_marglik"],
            }
            deltas[f"{lib} marglik δ"] = r["prior_precision"][0]
            for k, v in r["log_marglik_at"].items():
                out.setdefault("reported_at", {}).setdefault(lib, {})[k] = v
    deltas["δ = 1"] = 1.0
    for label, delta in deltas.items():
        out["at_delta"][label] = {
            "delta": delta,
            **{k: _lml(s, delta, nll, theta2) for k, s in spectra.items()},
        }
    return out
