"""The bundled-models section of the demo: each bundled model fitted with several guides.

For each bundled model and guide: fit with :func:`probapprox.fit`, compute the PSIS
diagnostics, write the ArviZ file (``<model>__<guide>.nc``) and one plot per model
(``<model>.png``); the table is written as ``summary.json`` and ``summary.md``. Warnings a
fit raises (e.g. :class:`probapprox.ConvergenceWarning` when the stopping rule had not fired
within the step budget) are recorded in the row's note instead of being printed.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["DEMO_PLAN", "QUICK_PLAN", "Row", "explain_row", "format_table", "run_bundled"]

MF, FR, LR = "AutoNormal", "AutoMultivariateNormal", "AutoLowRankMultivariateNormal"
MIX = "AutoIsoGaussianMixture"
NF = "AutoNormalizingFlow"
LAP = "AutoLaplace"

# model -> guides, for the full run: each row shows something the others do not, and the whole
# demo stays within 5 minutes on 2 cores. One-dimensional models: the full-covariance Gaussian
# is the mean-field one; an isotropic mixture is no help on the funnel's scale change; on the
# symmetric 2-D targets mean-field equals the full-covariance Gaussian. Rezende's U3/U4 and the
# 2-D mixture mog2d repeat what U1/U2 and four_modes show (all four are in benchmarks/).
DEMO_PLAN: dict[str, tuple[str, ...]] = {
    "normal_normal": (MF,),
    "beta_bernoulli": (MF,),
    "linear_regression": (MF, FR, LAP),
    "eight_schools": (MF, FR, NF),
    "logistic_regression": (MF, FR, LAP),
    "funnel": (MF, FR, NF),
    "banana": (FR, MIX, NF),
    "four_modes": (FR, MIX),
    "four_modes_unequal": (FR, MIX),
    "mog10d": (FR, MIX),
    "rezende_u1": (FR, MIX, NF),
    "rezende_u2": (FR, MIX, NF),
}
"""Bundled model -> guides fitted by the full demo."""
# steps and diagnostic draws per fit; the stopping rule ends many fits earlier. Most of a fit's
# time is compilation, so the quick plan saves by fitting fewer models, not fewer steps.
FULL_STEPS, FULL_DRAWS = 5000, 5000
QUICK_STEPS, QUICK_DRAWS = 1500, 1000
QUICK_PLAN: dict[str, tuple[str, ...]] = {
    "linear_regression": (MF, FR),
    "eight_schools": (FR,),
    "four_modes": (FR, MIX),
}
"""Bundled model -> guides fitted by ``probapprox demo --quick``."""


@dataclass
class Row:
    """One line of the demo table (``note``: the verdict and any warnings the fit raised)."""

    model: str
    guide: str
    steps: int
    elbo: float
    elbo_se: float
    log_Z: float | None
    pareto_k: float
    ess: float
    seconds: float
    note: str


# one-line descriptions of the guides, for the explanation under the table
_GUIDES = {
    MF: "mean-field Gaussian (independent coordinates)",
    FR: "full-covariance Gaussian",
    LR: "Gaussian with a low-rank-plus-diagonal covariance",
    MIX: "mixture of isotropic Gaussians with learned weights",
    NF: "normalizing flow",
    LAP: "Laplace: a Gaussian at the MAP with the inverse Hessian as covariance",
}


def _note(pareto_k: float, log_z: float | None, elbo: float, caught: list[str]) -> str:
    notes = []
    if not math.isfinite(pareto_k) and pareto_k < 0:
        notes.append("exact")
    elif pareto_k > 0.7:
        notes.append("k̂>0.7: unreliable")
    elif pareto_k > 0.5:
        notes.append("k̂>0.5")
    if log_z is not None:
        notes.append(f"KL(q‖p)≈{max(log_z - elbo, 0.0):.3g}")
    notes += [f"{n}× {w}" if n > 1 else w for w, n in Counter(caught).items()]
    return ", ".join(notes)


def _warning_note(w: warnings.WarningMessage, num_steps: int) -> str:
    """A short note for a warning a fit raised (the full text is in the fit's diagnostics)."""
    name = w.category.__name__
    if name == "ConvergenceWarning":
        return f"not settled in {num_steps} steps"
    return name


def explain_row(row: Row) -> str:
    """One line that says what ``row`` of the table is and how to read its numbers."""
    what = f"{row.model} × {row.guide}: {_GUIDES.get(row.guide, row.guide)}"
    k = row.pareto_k
    if not math.isfinite(k) and k < 0:
        verdict = "q is the exact posterior (constant importance weights)"
    elif k > 0.7:
        verdict = "k̂ > 0.7, q misses posterior mass (tails, modes or correlations)"
    elif k > 0.5:
        verdict = "k̂ in (0.5, 0.7], usable with importance correction"
    else:
        verdict = "k̂ ≤ 0.5, q is close enough for importance sampling"
    if row.log_Z is not None:
        kl = max(row.log_Z - row.elbo, 0.0)
        verdict += f"; log Z is exact, so KL(q‖p) = log Z − ELBO ≈ {kl:.3g}"
    return f"- {what}; {verdict}."


def _marginals(reference: object) -> dict[str, tuple[float, float]]:
    """Exact Gaussian-style marginals ``name[j] -> (mean, sd)`` from a model reference."""
    import numpy as np

    if reference is None or reference.mean is None or reference.sd is None:
        return {}
    out = {}
    for site, mean in reference.mean.items():
        m, s = np.ravel(mean), np.ravel(reference.sd[site])
        for j in range(m.size):
            out[site if m.size == 1 else f"{site}[{j}]"] = (float(m[j]), float(s[j]))
    return out


def format_table(rows: list[Row], *, explain: bool = True) -> str:
    """Markdown table of the demo rows, with one explaining line per row under it."""
    head = "| model | guide | steps | ELBO ± se | log Z | k̂ | IS ESS | s | note |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        log_z = "" if r.log_Z is None else f"{r.log_Z:.4f}"
        lines.append(
            f"| {r.model} | {r.guide} | {r.steps} | {r.elbo:.4f} ± {r.elbo_se:.4f} | {log_z} | "
            f"{r.pareto_k:.2f} | {r.ess:.0f} | {r.seconds:.1f} | {r.note} |"
        )
    if explain:
        lines += [
            "",
            "ELBO ± se: Monte Carlo estimate of the evidence lower bound (higher is better); "
            "k̂: PSIS Pareto shape of the importance weights p/q; IS ESS: their effective "
            "sample size; s: seconds for the fit, diagnostics and export.",
            "",
        ]
        lines += [explain_row(r) for r in rows]
    return "\n".join(lines)


def _init_worker() -> None:
    """Entry point of a worker process: 64-bit floats, as in the parent (``probapprox.cli``)."""
    import jax

    jax.config.update("jax_enable_x64", True)


def _fit_model(
    out: Path, name: str, guides: tuple[str, ...], num_steps: int, num_draws: int
) -> list[Row]:
    """Fit ``guides`` to the bundled model ``name``; write the ``.nc`` files and the plot."""
    import probapprox as pa
    from probapprox.diagnostics import plot_fits
    from probapprox.models import get_model

    bm = get_model(name)
    log_z = bm.reference.log_Z if bm.reference is not None else None
    trees, rows = {}, []
    for guide_name in guides:
        guide = pa.guides.make_guide(guide_name, bm.model)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = pa.fit(
                bm.model, guide, *bm.args, num_steps=num_steps, seed=0, progress=False,
                **bm.kwargs,
            )  # fmt: skip
            # the export reuses the diagnostics draw count, so its sampler is already compiled
            diag = result.diagnostics(num_draws, seed=1, warn=False)
            tree = result.to_arviz(num_draws, seed=2)
        seconds = time.perf_counter() - t0
        fit_warnings = [
            _warning_note(w, num_steps)
            for w in caught
            if issubclass(w.category, (pa.ConvergenceWarning, pa.NonFiniteWarning))
        ]
        tree.to_netcdf(out / f"{name}__{guide_name}.nc")
        trees[guide_name] = tree
        note = _note(diag.pareto_k, log_z, diag.elbo, fit_warnings)
        rows.append(
            Row(
                name, guide_name, num_steps, diag.elbo, diag.elbo_se, log_z, diag.pareto_k,
                diag.ess, seconds, note,
            )
        )  # fmt: skip
        print(
            f"  {name:<20} {guide_name:<30} ELBO {diag.elbo:10.4f}  k̂ {diag.pareto_k:5.2f}"
            f"  {seconds:5.1f}s",
            flush=True,
        )
    title = f"{name}: {bm.description}"[:120]
    plot_fits(trees, out / f"{name}.png", title=title, reference=_marginals(bm.reference))
    return rows


def _plan_jobs(out: Path, *, quick: bool, models: list[str] | None) -> list[tuple]:
    """Arguments of :func:`_fit_model`, one tuple per model of the plan (names checked)."""
    from probapprox.models import get_model

    plan = dict(QUICK_PLAN if quick else DEMO_PLAN)
    if models:
        plan = {m: plan.get(m, DEMO_PLAN.get(m, (FR,))) for m in models}
    for name in plan:
        get_model(name)  # fail early with the list of valid names
    num_steps, num_draws = (QUICK_STEPS, QUICK_DRAWS) if quick else (FULL_STEPS, FULL_DRAWS)
    out.mkdir(parents=True, exist_ok=True)
    return [(out, name, guides, num_steps, num_draws) for name, guides in plan.items()]


def _num_workers(requested: int | None, tasks: int) -> int:
    """``requested``, or the CPUs this process may use; at least 1, at most ``tasks``."""
    if requested is None:
        requested = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(requested, tasks))


def _pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes (spawned: a forked JAX runtime is not safe) with 64-bit floats."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)


def _finish(out: Path, per_model: list[list[Row]]) -> list[Row]:
    """Rows in the plan's order; writes ``summary.json`` and ``summary.md``."""
    rows = [row for model_rows in per_model for row in model_rows]
    (out / "summary.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    (out / "summary.md").write_text(format_table(rows) + "\n")
    return rows


def run_bundled(
    out: str | os.PathLike,
    *,
    quick: bool = False,
    models: list[str] | None = None,
    workers: int | None = None,
) -> list[Row]:
    """Fit the plan's models and guides, write their files to ``out``; returns the rows.

    Most of a fit's time is XLA compilation, which runs on one core, so the models are fitted
    by ``workers`` processes at once (one model, all its guides, per task); the rows come back
    in the plan's order.

    Args:
        out: Output folder (created if missing).
        quick: Use :data:`QUICK_PLAN` and shorter fits instead of :data:`DEMO_PLAN`.
        models: Only these bundled models (names of :data:`probapprox.models.MODELS`).
        workers: Processes fitting models at once (default: the CPUs this process may use,
            at most one per model); ``1`` fits in this process.

    Raises:
        ValueError: If a name in ``models`` is not a bundled model (lists the valid names).

    """
    out = Path(out)
    jobs = _plan_jobs(out, quick=quick, models=models)
    workers = _num_workers(workers, len(jobs))
    if workers == 1:
        return _finish(out, [_fit_model(*job) for job in jobs])
    with _pool(workers) as pool:
        return _finish(out, list(pool.map(_fit_model, *zip(*jobs, strict=True))))
