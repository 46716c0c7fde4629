"""The benchmarks' dense-VI reference (``benchmarks/_latent_gp_dense.py``) does not depend on
where its L-BFGS starts: the Laplace solution, LatentGP's exact-mode solution and a
deliberately perturbed start reach the same q (n = 300, sim1 draw, Bernoulli and Poisson).

The references run in a subprocess with one BLAS thread: multi-threaded BLAS on small matrices
is ~30x slower on a loaded 2-core machine.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"

SCRIPT = r"""
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
sys.path.insert(0, sys.argv[1])
import probapprox as pa
from _latent_gp_data import LENGTHSCALE, NUGGET, matern32, sim1
from _latent_gp_dense import check_gradient, dense_reference

lik, out = sys.argv[2], sys.argv[3]
d = sim1(lik, 0, n_train=300, n_test=50)
K = matern32(d["X"], d["X"]) + NUGGET * np.eye(300)
ks, kd = matern32(d["X"], d["X_test"]), np.full(50, 1.0 + NUGGET)
gp = pa.gp.LatentGP(pa.gp.Matern32(LENGTHSCALE), lik, nugget=NUGGET)
gp.fit(d["X"], d["y"], learn_hyperparameters=False)
q = gp.fitted_.exact
m, lam, var = np.asarray(q.mean), np.asarray(q.lam), np.asarray(q.var)
rng = np.random.default_rng(1)
z1, z2 = rng.standard_normal((2, 300))
perturbed = (m + np.sqrt(var) * z1, lam * np.exp(0.7 * z2))
res, infos = {}, {}
for name, start in (("laplace", None), ("method", (m, lam)), ("perturbed", perturbed)):
    r = dense_reference(lik, K, d["y"], ks, kd, start=start)
    for k in ("mean", "var", "mean_test", "var_test"):
        res[f"{name}_{k}"] = r[k]
    infos[name] = {k: v for k, v in r["info"].items() if k != "lam"}
infos["fd_rel_err"] = check_gradient(0, 40, lik)
np.savez(out, info=json.dumps(infos), **res)
"""


@pytest.fixture(scope="module", params=["bernoulli", "poisson"])
def refs(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("dense") / "refs.npz"
    one = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = os.environ | one | {"JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-c", SCRIPT, str(BENCH), request.param, str(out)]
    subprocess.run(cmd, env=env, check=True, timeout=900)
    res = np.load(out)
    return request.param, res, json.loads(str(res["info"]))


def _max_sd_diff(res, a, b, where=""):
    sd = np.sqrt(res[f"{a}_var{where}"])
    return float(np.max(np.abs(res[f"{a}_mean{where}"] - res[f"{b}_mean{where}"]) / sd))


def _max_rel_var(res, a, b, where=""):
    return float(np.max(np.abs(res[f"{b}_var{where}"] / res[f"{a}_var{where}"] - 1.0)))


@pytest.mark.slow
def test_closed_form_gradient_matches_finite_differences(refs):
    _, _, info = refs
    assert info["fd_rel_err"] < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("start", ["method", "perturbed"])
def test_every_start_reaches_the_laplace_started_optimum(refs, start):
    lik, res, info = refs
    assert info["laplace"]["converged"] and info[start]["converged"], info
    assert info[start]["grad_norm"] < 1e-5, info[start]
    for where in ("", "_test"):  # training and test points
        assert _max_sd_diff(res, "laplace", start, where) < 1e-4, (lik, start, where)
        assert _max_rel_var(res, "laplace", start, where) < 1e-4, (lik, start, where)
    assert abs(info[start]["elbo"] - info["laplace"]["elbo"]) < 1e-6 * abs(info["laplace"]["elbo"])


@pytest.mark.slow
def test_a_perturbed_start_is_pulled_back(refs):
    """The perturbed start is far off (1 sd in the mean, λ × e^{±0.7}) and the reference
    moves all the way back; the method's own (converged CVI) start barely moves."""
    lik, _, info = refs
    p, m = info["perturbed"], info["method"]
    assert p["elbo_start"] < p["elbo"] - 10.0, p
    assert p["moved_sd"] > 1.0, p
    assert m["elbo"] - m["elbo_start"] < 1e-6, m
    assert m["moved_sd"] < 1e-3, (lik, m)
