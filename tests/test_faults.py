"""Fault tests: SIGKILL a checkpointed fit and a ``save`` at random moments.

Every file left behind must either resume / load bit-identically to an uninterrupted run,
or be refused with :class:`probapprox.NotAProbapproxFile` (never a raw numpy/zip error,
never a silently different fit). The child process signals when it is inside the loop
(or the save loop), and the parent kills it after a delay drawn per case.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.autoguide import AutoNormal

import probapprox as pa
from tests.bad_inputs.conftest import lin as model  # the 3-parameter regression

ROOT = Path(__file__).resolve().parents[1]
N = 200_000  # data size: makes each checkpoint / save take long enough to be hit mid-write


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=N)
    return jnp.asarray(X), jnp.asarray(1 + 2 * X + 0.5 * rng.normal(size=N))


OPTS = dict(num_steps=60, seed=1, progress=False, warm_start=False, early_stop=False)

CHILD = textwrap.dedent(
    """
    import sys, time
    import jax
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {root!r})
    from tests.test_faults import model, data, OPTS
    from numpyro.infer.autoguide import AutoNormal
    import probapprox as pa
    X, y = data()
    def cb(step, losses):
        print("in-loop", step, flush=True)
        time.sleep(0.2)
    pa.fit(model, AutoNormal(model), X, y, checkpoint=sys.argv[2], checkpoint_every=4,
           chunk_size=4, callback=cb, **OPTS)
    print("done", flush=True)
    """
)

# The save child needs no JAX: it loads probapprox's file writer (numpy only) by path and
# rewrites a saved fit over itself in a loop, as FitResult.save does (write_npz).
SAVER = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("pio", {module!r})
    pio = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pio)
    path = sys.argv[2]
    header, arrays = pio.read_npz(path, "probapprox-fit-1", "a saved fit")
    print("in-loop", flush=True)
    while True:
        pio.write_npz(path, arrays, header)
    """
)
MODULE = ROOT / "probapprox" / "infer" / "_pytree_io.py"


def _run_and_kill(mode: str, path: Path, delay: float) -> bool:
    """Start the child, wait until it is in its loop, kill it after ``delay`` s.

    Returns whether the child was still running when killed.
    """
    script = (CHILD if mode == "fit" else SAVER).format(root=str(ROOT), module=str(MODULE))
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, mode, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:
            if line.startswith("in-loop") or line.startswith("done"):
                break
        time.sleep(delay)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    return alive


@pytest.fixture(scope="module")
def reference():
    X, y = data()
    return X, y, pa.fit(model, AutoNormal(model), X, y, **OPTS)


def _assert_same(a, b):
    np.testing.assert_array_equal(np.asarray(a.losses), np.asarray(b.losses))
    for k in b.params:
        np.testing.assert_array_equal(np.asarray(a.params[k]), np.asarray(b.params[k]))


def _check_leftovers(folder: Path, check_one) -> None:
    """Every file in ``folder`` (the target and any temporary) passes ``check_one`` or is
    refused with NotAProbapproxFile."""
    for f in sorted(folder.iterdir()):
        try:
            check_one(f)
        except pa.NotAProbapproxFile:
            pass


@pytest.mark.parametrize(
    "delay", [0.5] + [pytest.param(d, marks=pytest.mark.slow) for d in (0.0, 1.1, 1.7, 2.5)]
)
def test_killed_checkpointed_fit_resumes_bit_identically(tmp_path, reference, delay):
    X, y, full = reference
    path = tmp_path / "fit.ckpt"
    _run_and_kill("fit", path, delay)

    def resume(f: Path) -> None:
        res = pa.fit(model, AutoNormal(model), X, y, checkpoint=f, **OPTS)
        _assert_same(res, full)

    _check_leftovers(tmp_path, resume)


def test_killed_save_leaves_a_loadable_file(tmp_path, reference):
    X, y, full = reference
    good = tmp_path / "good.npz"
    full.save(good)
    draws = full.sample(20, seed=4)
    outcomes = {"target": 0, "temporary loaded": 0, "temporary refused": 0}
    delays = np.random.default_rng(0).uniform(0.0, 0.3, size=8)
    for i, delay in enumerate(delays):
        folder = tmp_path / f"kill{i}"
        folder.mkdir()
        path = folder / "fit.npz"
        path.write_bytes(good.read_bytes())
        _run_and_kill("save", path, float(delay))
        for f in sorted(folder.iterdir()):
            try:
                loaded = pa.load(f, model)
            except pa.NotAProbapproxFile:
                assert f != path, "the target of an atomic save must always be complete"
                outcomes["temporary refused"] += 1
                continue
            np.testing.assert_array_equal(np.asarray(loaded.losses), np.asarray(full.losses))
            again = loaded.sample(20, seed=4)
            for k in draws:
                np.testing.assert_array_equal(again[k], draws[k])
            outcomes["target" if f == path else "temporary loaded"] += 1
    assert outcomes["target"] == len(delays)
