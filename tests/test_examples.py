"""Every example runs with tiny arguments."""

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart(tmp_path):
    diag = _load("quickstart").main(
        argparse.Namespace(steps=300, draws=1000, out=str(tmp_path), quiet=True)
    )
    assert diag.num_samples == 1000
    assert (tmp_path / "eight_schools.nc").exists()


def test_checkpoint_resume(tmp_path):
    assert _load("checkpoint_resume").main(argparse.Namespace(steps=200, out=str(tmp_path)))


def test_multimodal_mixture(tmp_path):
    summary = _load("multimodal_mixture").main(argparse.Namespace(steps=1500, out=str(tmp_path)))
    masses, kl, _ = summary["mixture (N=10)"]
    np.testing.assert_allclose(masses, [0.1, 0.3, 0.3, 0.3], atol=0.05)
    assert kl < summary["AutoMultivariateNormal"][1]
    assert (tmp_path / "four_modes_unequal.png").exists()


@pytest.mark.slow  # about 90 s of compilation and fitting; runs in ``make test-all``
def test_normalizing_flows(tmp_path):
    summary = _load("normalizing_flows").main(argparse.Namespace(steps=600, out=str(tmp_path)))
    assert summary["planar K=32"][0] < summary["AutoMultivariateNormal"][0]
    assert all(kl > -0.05 for kl, _ in summary.values())  # exact KL is non-negative
    assert (tmp_path / "rezende_u1_flows.png").exists()


def test_laplace_digits(tmp_path):
    args = argparse.Namespace(
        steps=200, hidden=16, all_layer="kron", seed=0, out=str(tmp_path), quiet=True
    )
    rows = _load("laplace_digits").main(args)
    data = json.loads((tmp_path / "laplace_digits.json").read_text())
    assert (tmp_path / "laplace_digits.md").read_text().startswith("| split | method |")
    assert len(data["rows"]) == len(rows) == 2 * (2 + 2 * 3)  # 2 splits x (MAP, T, 2 Laplace x 3)
    for r in data["rows"]:  # the probabilities passed pa.logits' finite/simplex checks
        assert all(np.isfinite(r[k]) for k in ("accuracy", "nll", "ece", "brier", "seconds"))
        assert 0.1 - 1e-12 <= r["mean_max_prob"] <= 1.0  # >= 1/C for any probability vector
        assert 0.0 <= r["ece"] <= 1.0 and 0.0 <= r["brier"] <= 2.0 and r["nll"] >= 0.0
    by = {(r["split"], r["method"], r["predictive"]): r for r in data["rows"]}
    assert by["test", "MAP", "softmax"]["accuracy"] > 0.5
    assert by["test", "last-layer KFAC", "mean_field"]["accuracy"] > 0.5


def test_latent_gp_wells(tmp_path):
    args = argparse.Namespace(quick=True, seed=0, out=str(tmp_path), quiet=True)
    rows = _load("latent_gp_wells").main(args)
    data = json.loads((tmp_path / "gp_wells.json").read_text())
    assert (tmp_path / "gp_wells.md").read_text().startswith("| method | accuracy |")
    by = {r["method"]: r for r in data["rows"]}
    assert list(by) == [r["method"] for r in rows] == [
        "base rate", "linear logistic (ML)", "LatentGP sic"
    ]  # fmt: skip
    for r in rows:
        assert 0.0 <= r["ece"] <= 1.0 and 0.0 <= r["brier"] <= 2.0 and r["nll"] > 0.0
    # the GP beats the base rate out of sample (the linear model is its peer, not a bound)
    assert by["LatentGP sic"]["nll"] < by["base rate"]["nll"]
    assert np.isfinite(by["LatentGP sic"]["elbo"])


def test_every_example_is_tested():
    tested = {
        "quickstart",
        "checkpoint_resume",
        "multimodal_mixture",
        "normalizing_flows",
        "laplace_digits",
        "latent_gp_wells",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested, "add the new example to this file"


@pytest.fixture(autouse=True)
def _chdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
