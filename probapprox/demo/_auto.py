"""The ``auto`` section of the demo: ``pa.fit(model, "auto")`` on bundled posteriors.

For each model the ladder of :func:`probapprox.fit` with ``guide="auto"`` runs (Laplace →
full-rank Gaussian → mode-seeded isotropic mixture → normalizing flow, cheapest first, each
rung judged by its ELBO ± se and PSIS k̂). The table gives the chosen family, whether it was
certified, its ELBO, the exact KL(q ‖ p) = log Z − ELBO where log Z is known, and the rungs
tried; every model's full ladder goes to ``auto_ladders.md``. Warnings the ladder raises (no
certified rung) go into the note column.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import probapprox as pa
from probapprox.models import get_model

__all__ = ["AUTO_PLAN", "QUICK_AUTO_PLAN", "AutoRow", "format_auto_table", "run_auto"]

AUTO_PLAN: tuple[str, ...] = (
    "linear_regression",
    "eight_schools",
    "banana",
    "four_modes_unequal",
    "rezende_u1",
)
"""Bundled models the full demo fits with ``"auto"``."""
QUICK_AUTO_PLAN: tuple[str, ...] = ("linear_regression", "four_modes")
"""Bundled models ``probapprox demo --quick`` fits with ``"auto"``."""
_STEPS, _QUICK_STEPS = 5000, 1500
_BUDGET, _QUICK_BUDGET = 90.0, 30.0  # seconds per ladder (checked before each rung)


@dataclass
class AutoRow:
    """One model's ladder, summarised (``kl``: log Z − ELBO where log Z is known)."""

    model: str
    family: str
    certified: bool
    elbo: float
    elbo_se: float
    kl: float | None
    pareto_k: float
    rungs: str
    seconds: float
    note: str


def _row(name: str, *, quick: bool) -> tuple[AutoRow, str]:
    bm = get_model(name)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pa.fit(
            bm.model,
            "auto",
            *bm.args,
            num_steps=_QUICK_STEPS if quick else _STEPS,
            progress=False,
            time_budget=_QUICK_BUDGET if quick else _BUDGET,
            **bm.kwargs,
        )
    seconds = time.perf_counter() - t0
    ladder = result.info["auto"]
    chosen = next(r for r in ladder if "chosen" in r["verdict"])
    ran = [r["family"] for r in ladder if math.isfinite(r["elbo"])]
    log_z = bm.reference.log_Z if bm.reference is not None else None
    kl = None if log_z is None else float(log_z - chosen["elbo"])
    notes = sorted({str(w.message).split(":")[0][:60] for w in caught})
    row = AutoRow(
        model=name,
        family=chosen["family"],
        certified=bool(chosen["certified"]),
        elbo=chosen["elbo"],
        elbo_se=chosen["elbo_se"],
        kl=kl,
        pareto_k=chosen["khat"],
        rungs=" → ".join(ran),
        seconds=seconds,
        note="; ".join(notes),
    )
    return row, f"## {name}\n\n```\n{pa.infer.format_ladder(ladder)}\n```\n"


def run_auto(out: str | Path, *, quick: bool = False) -> list[AutoRow]:
    """Fit each model of the plan with ``"auto"``; write ``auto_ladders.md`` into ``out``.

    Args:
        out: Output folder (created if missing).
        quick: The short plan (:data:`QUICK_AUTO_PLAN`, fewer steps, a smaller time budget).

    Returns:
        One :class:`AutoRow` per model.

    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, ladders = [], []
    for name in QUICK_AUTO_PLAN if quick else AUTO_PLAN:
        row, ladder = _row(name, quick=quick)
        rows.append(row)
        ladders.append(ladder)
    tmp = out / "auto_ladders.md.tmp"
    tmp.write_text("# pa.fit(model, 'auto'): the ladders\n\n" + "\n".join(ladders))
    tmp.replace(out / "auto_ladders.md")
    return rows


def _num(x: float | None, spec: str) -> str:
    return "–" if x is None or not math.isfinite(x) else format(x, spec)


def format_auto_table(rows: list[AutoRow]) -> str:
    """The section's markdown table, with one explaining line per row under it."""
    head = "| model | chosen | certified | ELBO ± se | KL(q‖p) | k̂ | rungs run | s | note |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.family} | {'yes' if r.certified else 'no'} | "
            f"{_num(r.elbo, '.3f')} ± {_num(r.elbo_se, '.3f')} | {_num(r.kl, '.4f')} | "
            f"{_num(r.pareto_k, '.2f')} | {r.rungs} | {r.seconds:.0f} | {r.note} |"
        )
    lines.append("")
    for r in rows:
        cert = "certified (k̂ < 0.7, no cheaper rung better)" if r.certified else "NOT certified"
        kl = f"; exact KL {r.kl:.4f} nats" if r.kl is not None else ""
        lines.append(f"- {r.model}: the ladder chose {r.family}, {cert}{kl}; ran {r.rungs}.")
    return "\n".join(lines)
