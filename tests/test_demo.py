"""The demo's tables: notes and one explaining line per row (cheap; the run is in test_cli)."""

import math
from types import SimpleNamespace

from probapprox.demo import DEMO_PLAN, QUICK_PLAN, SECTIONS, Row, format_gp_table, format_table
from probapprox.demo._auto import AUTO_PLAN, QUICK_AUTO_PLAN
from probapprox.demo._bundled import _note
from probapprox.demo._laplace_legend import explain_laplace_rows
from probapprox.models import MODELS


def _row(model, guide, k, log_z=None, note=""):
    return Row(model, guide, 100, -1.5, 0.01, log_z, k, 900.0, 1.0, note)


def test_every_row_gets_one_explaining_line():
    rows = [
        _row("linear_regression", "AutoNormal", 0.8, log_z=-1.0),
        _row("four_modes", "AutoIsoGaussianMixture", 0.3),
        _row("normal_normal", "AutoNormal", -math.inf),
        _row("funnel", "AutoMultivariateNormal", 0.6),
    ]
    lines = format_table(rows).splitlines()
    explained = [ln for ln in lines if ln.startswith("- ")]
    assert len(explained) == len(rows)
    for r, line in zip(rows, explained, strict=True):
        assert line.startswith(f"- {r.model} × {r.guide}: ")
    assert "k̂ > 0.7" in explained[0] and "KL(q‖p) = log Z − ELBO ≈ 0.5" in explained[0]
    assert "k̂ ≤ 0.5" in explained[1] and "exact posterior" in explained[2]
    assert "(0.5, 0.7]" in explained[3]
    assert not any(ln.startswith("- ") for ln in format_table(rows, explain=False).splitlines())


def test_warnings_are_counted_in_the_note():
    note = _note(0.3, None, -1.0, ["not settled in 100 steps"] * 3 + ["NonFiniteWarning"])
    assert note == "3× not settled in 100 steps, NonFiniteWarning"
    assert _note(0.9, 0.0, -0.25, []) == "k̂>0.7: unreliable, KL(q‖p)≈0.25"


def test_gp_and_laplace_rows_are_explained():
    methods = ("base rate", "linear logistic (ML)", "LatentGP sic", "LatentGP diagonal")
    scores = {"accuracy": 0.6, "nll": 0.6, "brier": 0.2, "ece": 0.02, "seconds": 1.0}
    rows = [{"method": m, **scores} for m in methods]
    explained = [ln for ln in format_gp_table(rows).splitlines() if ln.startswith("- ")]
    assert [ln.split(":")[0] for ln in explained] == [f"- {r['method']}" for r in rows]
    assert all(len(ln) > len(r["method"]) + 20 for ln, r in zip(explained, rows, strict=True))
    lap = [SimpleNamespace(split=s, method=m, predictive=p)
           for s in ("test", "shift30")
           for m, p in (("MAP", "softmax"), ("last-layer KFAC", "probit"))]  # fmt: skip
    lines = [ln for ln in explain_laplace_rows(lap) if ln.startswith("- ")]
    assert len(lines) == len(lap)
    assert "model mismatch" in lines[1] and "rotated" in lines[3]


def test_plans_name_bundled_models_and_the_auto_section_comes_first():
    assert set(DEMO_PLAN) <= set(MODELS) and set(QUICK_PLAN) <= set(DEMO_PLAN)
    assert set(AUTO_PLAN) <= set(MODELS) and set(QUICK_AUTO_PLAN) <= set(MODELS)
    assert [s.name for s in SECTIONS] == ["auto", "laplace", "gp"]
    assert [s.name for s in SECTIONS if s.in_quick] == ["auto", "laplace"]
