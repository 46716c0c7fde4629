"""``pa.fit(mesh=...)`` on 1, 2 and 4 simulated CPU devices equals the fit without a mesh."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name(name)), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def data_fits():
    return run_script("_mesh_fits.py", "data")


@pytest.mark.parametrize("sub", ["None", "16"])
@pytest.mark.parametrize("devices", [1, 2, 4])
def test_data_parallel_fit_equals_the_plain_fit(data_fits, sub, devices):
    assert data_fits[f"{sub}-{devices}"] < 1e-10
    # full data: split in blocks over "data"; a subsampled plate's data: one copy per device,
    # so each device gathers its share of the subsample without moving rows between devices
    want = "P('data',)" if sub == "None" else "P()"
    assert data_fits[f"{sub}-{devices}-spec"] == want
    assert data_fits[f"{sub}-{devices}-devices"] == devices


def test_the_gradient_is_all_reduced_and_no_data_move():
    out = run_script("_mesh_fits.py", "hlo")
    # only the gradient's scalar is all-reduced: no data row moves between devices for a
    # subsampled plate (one copy of the data per device) or a full plate used as a whole
    for name in ("16", "whole"):
        assert out[f"{name}-gathered"] == [], out
        assert out[f"{name}-reduced"] == [" f64[]"], out
    # ``x[idx]`` on a full plate: the blocks of x and y are all-gathered (GSPMD cannot know
    # that idx = arange(N) keeps each row on its device); never a masked all-reduce of rows
    assert out["None-gathered"] == ["f64[64]{0}", "f64[64]{0}"], out
    assert out["None-reduced"] == [" f64[]"], out


def test_starts_over_devices_equal_the_vmapped_fit():
    out = run_script("_mesh_fits.py", "starts")
    assert out["starts"] < 1e-10
    assert out["starts-data"] < 1e-10
    assert out["starts-selected"] and out["starts-data-selected"]
    assert out["starts-spec"] == "P('starts',)"
    assert out["starts-devices"] == 4


def test_bad_meshes_are_named():
    import probapprox as pa

    devices = jax.devices()[:1]
    with pytest.raises(TypeError, match="expects a jax.sharding.Mesh"):
        pa.infer._mesh.check_mesh("data", 1)
    with pytest.raises(ValueError, match="name an axis 'data'"):
        pa.infer._mesh.check_mesh(jax.make_mesh((1,), ("batch",), devices=devices), 1)
    mesh = jax.make_mesh((1,), ("starts",), devices=devices)
    assert pa.infer._mesh.check_mesh(mesh, 3) is not None


@pytest.mark.slow
def test_latent_gp_on_four_devices_equals_one_device():
    out = run_script("_gp_mesh.py", "5000", "2")
    assert out["1"] < 1e-8
    assert out["4"] < 1e-8  # max |Δ| / max |value| per array (ν, V, log diag) and the losses
    assert out["plain-again"]


def test_latent_gp_mesh_needs_a_data_axis():
    import numpy as np

    import probapprox as pa

    gp = pa.gp.LatentGP(pa.gp.Matern32(lengthscale=0.3), "bernoulli")
    mesh = jax.make_mesh((1,), ("starts",), devices=jax.devices()[:1])
    x = np.linspace(0, 1, 20)[:, None]
    with pytest.raises(ValueError, match="with a 'data' axis"):
        gp.fit(x, (x[:, 0] > 0.5).astype(float), num_epochs=1, mesh=mesh)
