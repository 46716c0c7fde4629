"""Every example runs with tiny arguments."""

import argparse
import importlib.util
from pathlib import Path

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


def test_every_example_is_tested():
    tested = {"quickstart", "checkpoint_resume"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested, "add the new example to this file"


@pytest.fixture(autouse=True)
def _chdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
