import json
import subprocess
import sys

import pytest
import xarray as xr

from probapprox.cli import main, resolve_model


def _run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "probapprox", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_quick_writes_readable_files(tmp_path):
    # speed is measured in benchmarks, not asserted here; the timeout only guards against hangs
    proc = _run("demo", "--quick", "--out", str(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "| model | guide |" in proc.stdout
    files = sorted(tmp_path.glob("*.nc"))
    assert len(files) >= 7
    for f in files:
        tree = xr.open_datatree(f)
        assert "posterior" in tree.children and "sample_stats" in tree.children
    assert len(list(tmp_path.glob("*.png"))) >= 6
    assert (tmp_path / "summary.json").exists() and (tmp_path / "summary.md").exists()
    assert "| split | method | predictive |" in proc.stdout  # the Laplace section's table
    laplace = json.loads((tmp_path / "laplace_digits.json").read_text())
    assert (tmp_path / "laplace_digits.md").exists()
    assert {r["method"] for r in laplace["rows"]} == {"MAP", "MAP + temperature", "last-layer KFAC"}


def test_fit_command(tmp_path, capsys):
    rc = main(
        [
            "fit",
            "models:normal_normal",
            "--guide",
            "AutoNormal",
            "--steps",
            "300",
            "--draws",
            "1000",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "k̂" in out
    assert (tmp_path / "normal_normal__AutoNormal.nc").exists()
    assert (tmp_path / "normal_normal__AutoNormal_fit.npz").exists()


def test_guide_typo_lists_valid_names(tmp_path, capsys):
    rc = main(["fit", "models:normal_normal", "--guide", "AutoNormall", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Unknown guide 'AutoNormall'" in err and "AutoMultivariateNormal" in err


def test_unknown_model_lists_valid_names(tmp_path, capsys):
    with pytest.raises(SystemExit, match="eight_schools"):
        main(["fit", "models:eight_school", "--out", str(tmp_path)])
    assert main(["demo", "--models", "nope", "--out", str(tmp_path)]) == 2
    assert "Valid names" in capsys.readouterr().err


def test_resolve_model_forms():
    name, model, args, kwargs = resolve_model("models.regression:linear_regression")
    assert name == "linear_regression" and len(args) == 1 and "y" in kwargs
    name, _, _, _ = resolve_model("models:four_modes_unequal")
    assert name == "four_modes_unequal"
    with pytest.raises(SystemExit, match="MODULE:FUNCTION"):
        resolve_model("models")
    with pytest.raises(SystemExit, match="cannot import"):
        resolve_model("no_such_module:model")
