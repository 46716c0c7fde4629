"""``probapprox demo``: the library's main job, section by section.

Each section fits something, writes its files into the output folder and returns a markdown
table with one explaining line per row under it:

1. ``bundled`` (:mod:`probapprox.demo._bundled`): every bundled model with several guides;
   PSIS diagnostics, ArviZ files, one plot per model; ``summary.md``.
2. ``auto`` (:mod:`probapprox.demo._auto`): ``pa.fit(model, "auto")`` on bundled posteriors, the
   family each ladder chose, its certificate and exact KL; ``auto_ladders.md``.
3. ``laplace``: a MAP MLP on the bundled digits, last-layer KFAC Laplace with marginal-likelihood
   prior precision, calibration on held-out and rotated digits; ``laplace_digits.md``.
4. ``gp`` (full run only): latent-GP classification of the bundled wells data; ``gp_wells.md``.

>>> from probapprox.demo import run
>>> run("demo_out", quick=True)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from probapprox.demo._auto import AutoRow, format_auto_table, run_auto
from probapprox.demo._bundled import (
    DEMO_PLAN,
    QUICK_PLAN,
    Row,
    _finish,
    _fit_model,
    _num_workers,
    _plan_jobs,
    _pool,
    format_table,
    run_bundled,
)
from probapprox.demo._gp import format_gp_table, logistic_baseline, run_gp_demo
from probapprox.demo._laplace import (
    LaplaceRow,
    digits_rows,
    fit_temperature,
    format_laplace_table,
    laplace_predictives,
    metric_rows,
    run_laplace_demo,
    train_map,
    write_laplace_tables,
)
from probapprox.demo._laplace_legend import explain_laplace_rows

__all__ = [
    "AutoRow",
    "DEMO_PLAN",
    "QUICK_PLAN",
    "SECTIONS",
    "LaplaceRow",
    "Row",
    "Section",
    "digits_rows",
    "fit_temperature",
    "format_auto_table",
    "format_gp_table",
    "format_laplace_table",
    "format_table",
    "laplace_predictives",
    "logistic_baseline",
    "metric_rows",
    "run",
    "run_auto",
    "run_bundled",
    "run_gp_demo",
    "run_laplace_demo",
    "train_map",
    "write_laplace_tables",
]


@dataclass(frozen=True)
class Section:
    """One section of the demo: ``body(out, quick=...)`` runs it and returns its table as text.

    Attributes:
        name: Short name (``bundled``, ``laplace``, ``gp``).
        title: The heading printed above the table.
        body: ``body(out, quick=...) -> str``: fits, writes files into ``out``, returns the
            table with its explaining lines.
        in_quick: Whether ``probapprox demo --quick`` runs it.

    """

    name: str
    title: str
    body: Callable[..., str]
    in_quick: bool = True


def _auto(out: Path, *, quick: bool) -> str:
    return format_auto_table(run_auto(out, quick=quick))


def _laplace_section(out: Path, *, quick: bool) -> str:
    rows = run_laplace_demo(out, quick=quick)
    return "\n".join([format_laplace_table(rows), "", *explain_laplace_rows(rows)])


def _gp_section(out: Path, *, quick: bool) -> str:
    return format_gp_table(run_gp_demo(out, quick=quick))


# The sections besides ``bundled``: their tables print after its table, in this order (with
# worker processes they run alongside the model fits). ``models=`` runs ``bundled`` alone.
SECTIONS: tuple[Section, ...] = (
    Section("auto", 'pa.fit(model, "auto"): the family ladder on bundled posteriors', _auto),
    Section(
        "laplace", "Laplace on the digits MLP (last-layer KFAC, marglik prior)", _laplace_section
    ),
    Section(
        "gp", "Latent-GP classification of the wells data (DKLGP)", _gp_section, in_quick=False
    ),
)
"""The demo's sections besides ``bundled``, in the order their tables print."""


def run(
    out: str | os.PathLike = "demo_out",
    *,
    quick: bool = False,
    models: list[str] | None = None,
    workers: int | None = None,
) -> None:
    """Run the demo and print its tables; the files go into ``out``.

    Args:
        out: Output folder (created if missing).
        quick: The short plan (fewer models, steps and draws; no GP section).
        models: Only the ``bundled`` section, for these bundled model names.
        workers: Processes running the model fits and the sections at once (default: one
            per CPU); ``1`` runs everything in this process, in order.

    Raises:
        ValueError: If a name in ``models`` is not a bundled model (lists the valid names).

    """
    out = Path(out)
    wall, cpu = time.perf_counter(), sum(os.times()[:4])
    print(f"probapprox demo ({'quick' if quick else 'full'}): writing to {out}/", flush=True)
    jobs = _plan_jobs(out, quick=quick, models=models)
    sections = [] if models else [s for s in SECTIONS if s.in_quick or not quick]
    workers = _num_workers(workers, len(jobs) + len(sections))
    print(f"\nBundled models × guides ({workers} worker processes):", flush=True)
    if workers == 1:
        rows = _finish(out, [_fit_model(*job) for job in jobs])
        print("\n" + format_table(rows), flush=True)
        for section in sections:
            print(f"\n{section.title}:\n\n" + section.body(out, quick=quick), flush=True)
    else:
        with _pool(workers) as pool:
            # the sections are the longest tasks: submitted first, they overlap the model fits
            tables = [pool.submit(s.body, out, quick=quick) for s in sections]
            fits = [pool.submit(_fit_model, *job) for job in jobs]
            rows = _finish(out, [f.result() for f in fits])
            print("\n" + format_table(rows), flush=True)
            for section, table in zip(sections, tables, strict=True):
                print(f"\n{section.title}:\n\n" + table.result(), flush=True)
    # CPU seconds of this process and its workers, whatever the load now: on a quiet machine
    # the wall time is about the CPU time divided by the busy workers (compilation is serial)
    wall = time.perf_counter() - wall
    cpu = sum(os.times()[:4]) - cpu
    print(f"\ndemo done: {wall:.0f} s wall, {cpu:.0f} s CPU; files in {out}/")
    sys.stdout.flush()
