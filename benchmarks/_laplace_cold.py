"""Cold and warm last-layer KFAC Laplace (marglik) + predict: probapprox vs laplace-torch.

Each library runs in a fresh Python process on the same digits MLP weights (a short MAP,
``--adam-steps``): the process imports its library, then times ``fit + marglik + predict
on the 500 test rows`` once (cold: tracing and XLA compilation included for JAX) and
``--repeats`` more times (warm, median). Ours: ``fit_laplace(subset="last_layer",
structure="kron", kron_bias="separate")``, ``optimize_prior_precision("marglik")``,
``predictive(*lap.logits(X), method="sigma_points")``; the README's recommended one-liner
(the defaults: ``structure="full"``, ``method="mean_field"``); also with JAX's persistent
compilation cache (a fresh temporary directory, filled by one process, then timed in a
second). laplace-torch: ``Laplace(..., "last_layer", "kron")``, ``fit``,
``optimize_prior_precision(method="marglik")``, ``la(X, link_approx="probit")``.

Writes ``benchmarks/results/laplace_cold.json`` and ``.md``.
Run: ``python benchmarks/_laplace_cold.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _laplace_digits_common import train_map  # noqa: E402
from _meta import run_meta, write_results  # noqa: E402

from probapprox.models.digits import split_digits  # noqa: E402

OURS = r"""
import json, statistics, sys, time
t0 = time.perf_counter()
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
import probapprox as pa
t_import = time.perf_counter() - t0
d = np.load(sys.argv[1])
params = [{"W": d[f"W{i}"], "b": d[f"b{i}"]} for i in range(3)]
net = pa.laplace.MLP(jnp.tanh)
def run():
    t = time.perf_counter()
    if sys.argv[3] == "kron":
        lap = pa.laplace.fit_laplace(net, params, d["x_train"], d["y_train"],
            subset="last_layer", structure="kron", feature_fn=net.features, kron_bias="separate")
    else:  # the README's recommended one-liner: the defaults (full GGN, mean_field)
        lap = pa.laplace.fit_laplace(net, params, d["x_train"], d["y_train"],
            subset="last_layer", feature_fn=net.features)
    lap = lap.optimize_prior_precision("marglik")
    p = pa.logits.predictive(*lap.logits(d["x_test"]), method=sys.argv[4])
    jax.block_until_ready(p)
    return time.perf_counter() - t
cold = run()
warm = statistics.median(run() for _ in range(int(sys.argv[2])))
print(json.dumps({"import_s": t_import, "cold_s": cold, "warm_s": warm}))
"""

PEER = r"""
import json, statistics, sys, time
t0 = time.perf_counter()
import numpy as np, torch
from laplace import Laplace
from torch.utils.data import DataLoader, TensorDataset
t_import = time.perf_counter() - t0
torch.set_num_threads(int(sys.argv[3]))
d = np.load(sys.argv[1])
mods = []
for i in range(3):
    lin = torch.nn.Linear(*d[f"W{i}"].shape).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(d[f"W{i}"].T.copy()))
        lin.bias.copy_(torch.from_numpy(d[f"b{i}"]))
    mods += [lin, torch.nn.Tanh()] if i < 2 else [lin]
model = torch.nn.Sequential(*mods).eval()
x, y = torch.from_numpy(d["x_train"]), torch.from_numpy(d["y_train"]).long()
xt = torch.from_numpy(d["x_test"])
loader = DataLoader(TensorDataset(x, y), batch_size=len(y))
def run():
    t = time.perf_counter()
    la = Laplace(model, "classification", subset_of_weights="last_layer",
                 hessian_structure="kron")
    la.fit(loader)
    la.optimize_prior_precision(method="marglik", pred_type="glm")
    with torch.no_grad():
        la(xt, pred_type="glm", link_approx="probit")
    return time.perf_counter() - t
cold = run()
warm = statistics.median(run() for _ in range(int(sys.argv[2])))
print(json.dumps({"import_s": t_import, "cold_s": cold, "warm_s": warm}))
"""


def _run(python: str, code: str, argv: list[str], env: dict | None = None) -> dict:
    out = subprocess.run(
        [python, "-c", code, *argv], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(args):
    load0 = os.getloadavg()
    split = split_digits(0)
    d = {f"{a}_{s}": np.asarray(split[s][i]) for s in split for i, a in enumerate(("x", "y"))}
    steps = types.SimpleNamespace(adam_steps=args.adam_steps, lbfgs_steps=0, seed=0)
    params, _ = train_map(d["x_train"], d["y_train"], steps)
    root = str(HERE.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        npz = str(Path(tmp) / "w.npz")
        weights = {f"{k}{i}": np.asarray(la[k]) for i, la in enumerate(params) for k in "Wb"}
        np.savez(npz, **weights, **d)
        argv = [npz, str(args.repeats)]
        res["ours"] = _run(sys.executable, OURS, [*argv, "kron", "sigma_points"], env)
        res["ours, recommended (full, mean_field)"] = _run(
            sys.executable, OURS, [*argv, "full", "mean_field"], env
        )
        cache = {
            **env,
            "JAX_COMPILATION_CACHE_DIR": str(Path(tmp) / "jax_cache"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
        kron = [*argv, "kron", "sigma_points"]
        _run(sys.executable, OURS, kron, cache)  # fills the cache
        res["ours, persistent cache"] = _run(sys.executable, OURS, kron, cache)
        default_py = HERE.parent / ".venv-torch" / "bin" / "python"
        torch_py = Path(os.environ.get("TORCH_PYTHON", default_py))
        if torch_py.exists():
            res["laplace-torch"] = _run(str(torch_py), PEER, [*argv, str(os.cpu_count())])
    peer = res.get("laplace-torch")
    lines = [
        "## Last-layer KFAC + marglik + predict (500 test rows), fresh process each",
        "",
        "| library | import s | cold fit+predict s | warm s (median) | cold ×peer | warm ×peer |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in res.items():
        ratios = (
            f"{r['cold_s'] / peer['cold_s']:.2f} | {r['warm_s'] / peer['warm_s']:.3f}"
            if peer
            else "– | –"
        )
        lines.append(
            f"| {name} | {r['import_s']:.2f} | {r['cold_s']:.3f} | {r['warm_s']:.4f} | {ratios} |"
        )
    lines.append(
        f"\n({args.adam_steps} Adam steps for the MAP; {args.repeats} warm repeats; load average "
        f"{load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end on "
        f"{os.cpu_count()} cores)"
    )
    result = {"rows": res, "adam_steps": args.adam_steps, "repeats": args.repeats}
    result.update(run_meta(load0, 0.0))
    write_results("laplace_cold", result, lines, quick=False)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--adam-steps", type=int, default=300)
    main(p.parse_args())
