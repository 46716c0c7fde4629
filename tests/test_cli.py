import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

import probapprox as pa
from probapprox.cli import _parser, main, resolve_model
from probapprox.demo import QUICK_PLAN

README = Path(__file__).resolve().parents[1] / "README.md"


def _run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "probapprox", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _readme_commands():
    """``probapprox ...`` lines of the README's bash blocks, without placeholders."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith("probapprox ") and not re.search(r"[A-Z]{3,}", ln)]


@pytest.fixture
def no_fit(monkeypatch):
    """Fail the test if a fit starts: argument errors must come before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("pa.fit was called")

    monkeypatch.setattr(pa, "fit", refuse)


def test_demo_quick_writes_readable_files(tmp_path):
    # speed is measured in benchmarks, not asserted here; the timeout only guards against hangs
    proc = _run("demo", "--quick", "--out", str(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "| model | guide |" in proc.stdout
    assert "Warning" not in proc.stderr  # fit warnings go into the tables' note column
    files = sorted(tmp_path.glob("*.nc"))
    assert len(files) == sum(len(guides) for guides in QUICK_PLAN.values())
    for f in files:
        tree = xr.open_datatree(f)
        assert "posterior" in tree.children and "sample_stats" in tree.children
    assert len(list(tmp_path.glob("*.png"))) == len(QUICK_PLAN)  # one plot per model
    assert "demo done: " in proc.stdout
    rows = json.loads((tmp_path / "summary.json").read_text())
    assert (tmp_path / "summary.md").exists()
    for r in rows:  # every row is explained in one line under the table
        assert f"- {r['model']} × {r['guide']}: " in proc.stdout
    assert "| split | method | predictive |" in proc.stdout  # the Laplace section's table
    laplace = json.loads((tmp_path / "laplace_digits.json").read_text())
    assert (tmp_path / "laplace_digits.md").exists()
    assert {r["method"] for r in laplace["rows"]} == {"MAP", "MAP + temperature", "last-layer KFAC"}
    for r in laplace["rows"]:
        assert f"- {r['split']} / {r['method']} / {r['predictive']}: " in proc.stdout


def test_readme_cli_examples_run(tmp_path, capsys):
    commands = _readme_commands()
    fits = [c for c in commands if c.startswith("probapprox fit ")]
    assert len(fits) >= 2 and "probapprox demo --quick" in commands
    for cmd in commands:  # every example parses
        _parser().parse_args(shlex.split(cmd)[1:])
    for i, cmd in enumerate(fits):  # and every fit runs (fewer draws; output into tmp_path)
        out = tmp_path / str(i)
        argv = [*shlex.split(cmd)[1:], "--out", str(out), "--draws", "500", "--no-progress"]
        assert main(argv) == 0
        stdout = capsys.readouterr().out
        assert "k̂" in stdout
        assert len(list(out.glob("*.nc"))) == 1 and len(list(out.glob("*_fit.npz"))) == 1
        assert len(list(out.glob("*.png"))) == 1


@pytest.mark.parametrize(
    ("argv", "argument", "detail"),
    [
        (["--steps", "-3"], "--steps", "expected an integer >= 1; got -3"),
        (["--steps", "0"], "--steps", ">= 1"),
        (["--steps", "ten"], "--steps", "expected an integer; got 'ten'"),
        (["--draws", "1"], "--draws", ">= 2"),
        (["--seed", "-1"], "--seed", ">= 0"),
        (["--guide", "AutoNormall"], "--guide", "Unknown guide 'AutoNormall'"),
    ],
)
def test_bad_fit_arguments_are_argparse_errors(no_fit, tmp_path, capsys, argv, argument, detail):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "probapprox.models:normal_normal", "--out", str(tmp_path), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"probapprox fit: error: argument {argument}: " in err and detail in err
    assert "Traceback" not in err


def test_bad_steps_from_the_shell_prints_no_traceback():
    proc = _run("fit", "probapprox.models:eight_schools", "--steps", "-3", timeout=120)
    assert proc.returncode == 2
    assert "argument --steps" in proc.stderr and "Traceback" not in proc.stderr


def test_out_is_checked_before_the_fit(no_fit, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out in (a_file, a_file / "below"):  # a file; a folder that cannot be created
        with pytest.raises(SystemExit) as exc:
            main(["fit", "probapprox.models:normal_normal", "--out", str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "argument --out:" in err and str(a_file) in err
    with pytest.raises(SystemExit):
        main(["demo", "--out", str(a_file)])
    assert "argument --out:" in capsys.readouterr().err
    new = tmp_path / "new" / "deeper"  # a missing folder is created (the fit then runs)
    with pytest.raises(AssertionError, match="pa.fit was called"):
        main(["fit", "probapprox.models:normal_normal", "--out", str(new)])
    assert new.is_dir()


def test_bad_model_specs_name_the_argument(no_fit, tmp_path, capsys):
    cases = {
        "probapprox.models:eight_school": "Available: banana, beta_bernoulli",
        "probapprox.models": "expected MODULE:NAME",
        "no_such_module:model": "cannot import module 'no_such_module'",
        "probapprox.models.regression:np": "not a NumPyro model",
    }
    for spec, detail in cases.items():
        with pytest.raises(SystemExit) as exc:
            main(["fit", spec, "--out", str(tmp_path)])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "argument model: " in err and detail in err, err
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--models", "nope", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "Valid names" in capsys.readouterr().err


def test_resolve_model_forms(capsys):
    # the bundled name wins over the submodule of the same name (issue 17, item 2)
    name, model, args, kwargs = resolve_model("probapprox.models:eight_schools")
    assert name == "eight_schools" and callable(model) and len(args) + len(kwargs) > 0
    name, model, args, kwargs = resolve_model("probapprox.models.regression:linear_regression")
    assert name == "linear_regression" and len(args) == 1 and "y" in kwargs
    assert capsys.readouterr().err == ""
    # the old top-level name still works, with a notice naming the new one
    bundled = resolve_model("probapprox.models:eight_schools")
    capsys.readouterr()
    old = resolve_model("models:eight_schools")
    assert old[0] == "eight_schools" and old[1] is bundled[1]
    err = capsys.readouterr().err
    assert "use 'probapprox.models:eight_schools'" in err
    assert resolve_model("models.regression:linear_regression")[0] == "linear_regression"
    assert "probapprox.models.regression:linear_regression" in capsys.readouterr().err
    with pytest.raises(ValueError, match="MODULE:NAME"):
        resolve_model("models")


def test_a_users_own_models_module_is_not_redirected(tmp_path, monkeypatch, capsys):
    (tmp_path / "models.py").write_text(
        "import numpyro, numpyro.distributions as dist\n"
        "def mine():\n    numpyro.sample('x', dist.Normal(0.0, 1.0))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "models", raising=False)
    name, model, args, kwargs = resolve_model("models:mine")
    assert name == "mine" and model.__module__ == "models" and args == () and kwargs == {}
    with pytest.raises(ValueError, match=r"the bundled model is probapprox\.models:eight_schools"):
        resolve_model("models:eight_schools")
    assert "note:" not in capsys.readouterr().err
