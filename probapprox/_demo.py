"""The main job: fit the bundled models with the available guides and report.

For each bundled model and guide: fit with :func:`probapprox.fit`, compute the
PSIS diagnostics, write the ArviZ file (``<model>__<guide>.nc``) and one plot
per model (``<model>.png``), then print a table and write it as
``summary.json`` and ``summary.md``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["DEMO_PLAN", "QUICK_PLAN", "Row", "run_demo", "format_table"]

MF, FR, LR = "AutoNormal", "AutoMultivariateNormal", "AutoLowRankMultivariateNormal"
MIX = "AutoIsoGaussianMixture"
NF = "AutoNormalizingFlow"
LAP = "AutoLaplace"

# model -> guides, for the full run
DEMO_PLAN: dict[str, tuple[str, ...]] = {
    "normal_normal": (MF, FR),
    "beta_bernoulli": (MF, FR),
    "linear_regression": (MF, FR, LAP),
    "eight_schools": (MF, FR, NF),
    "logistic_regression": (MF, LR, FR, LAP),
    "funnel": (MF, FR, MIX, NF),
    "banana": (MF, FR, MIX, NF),
    "four_modes": (MF, FR, MIX),
    "four_modes_unequal": (MF, FR, MIX),
    "mog2d": (FR, MIX),
    "mog10d": (FR, MIX),
    "rezende_u1": (MF, FR, MIX, NF),
    "rezende_u2": (MF, FR, MIX, NF),
    "rezende_u3": (MF, FR, MIX, NF),
    "rezende_u4": (MF, FR, MIX, NF),
}
QUICK_PLAN: dict[str, tuple[str, ...]] = {
    "linear_regression": (MF, FR),
    "eight_schools": (FR,),
    "logistic_regression": (LR,),
    "funnel": (FR,),
    "four_modes": (FR, MIX),
    "rezende_u1": (FR, MIX),
}


@dataclass
class Row:
    """One line of the demo table."""

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


def _note(pareto_k: float, log_z: float | None, elbo: float) -> str:
    notes = []
    if not math.isfinite(pareto_k) and pareto_k < 0:
        notes.append("exact")
    elif pareto_k > 0.7:
        notes.append("k̂>0.7: unreliable")
    elif pareto_k > 0.5:
        notes.append("k̂>0.5")
    if log_z is not None:
        notes.append(f"KL(q‖p)≈{max(log_z - elbo, 0.0):.3g}")
    return ", ".join(notes)


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


def format_table(rows: list[Row]) -> str:
    """Markdown table of the demo rows."""
    head = "| model | guide | steps | ELBO ± se | log Z | k̂ | IS ESS | s | note |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        log_z = "" if r.log_Z is None else f"{r.log_Z:.4f}"
        lines.append(
            f"| {r.model} | {r.guide} | {r.steps} | {r.elbo:.4f} ± {r.elbo_se:.4f} | {log_z} | "
            f"{r.pareto_k:.2f} | {r.ess:.0f} | {r.seconds:.1f} | {r.note} |"
        )
    return "\n".join(lines)


def run_demo(
    out: str | os.PathLike, *, quick: bool = False, models: list[str] | None = None
) -> list[Row]:
    """Run the demo and write its files to ``out``; returns the table rows."""
    import probapprox as pa
    from models import get_model
    from probapprox.diagnostics import plot_fits

    plan = dict(QUICK_PLAN if quick else DEMO_PLAN)
    if models:
        plan = {m: plan.get(m, DEMO_PLAN.get(m, (FR,))) for m in models}
    for name in plan:
        get_model(name)  # fail early with the list of valid names
    # the export reuses the diagnostics draw count, so its sampler is already compiled
    num_steps, num_draws = (1500, 2000) if quick else (5000, 10_000)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for name, guides in plan.items():
        bm = get_model(name)
        trees = {}
        for guide_name in guides:
            guide = pa.guides.make_guide(guide_name, bm.model)
            t0 = time.perf_counter()
            result = pa.fit(
                bm.model, guide, *bm.args, num_steps=num_steps, seed=0, progress=False, **bm.kwargs
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                diag = result.diagnostics(num_draws, seed=1, warn=False)
                tree = result.to_arviz(num_draws, seed=2)
            seconds = time.perf_counter() - t0
            tree.to_netcdf(out / f"{name}__{guide_name}.nc")
            trees[guide_name] = tree
            log_z = bm.reference.log_Z if bm.reference is not None else None
            row = Row(
                name,
                guide_name,
                num_steps,
                diag.elbo,
                diag.elbo_se,
                log_z,
                diag.pareto_k,
                diag.ess,
                seconds,
                _note(diag.pareto_k, log_z, diag.elbo),
            )
            rows.append(row)
            print(
                f"  {name:<20} {guide_name:<30} ELBO {diag.elbo:10.4f}  k̂ {diag.pareto_k:5.2f}"
                f"  {seconds:5.1f}s",
                flush=True,
            )
        plot_fits(
            trees,
            out / f"{name}.png",
            title=f"{name}: {bm.description}"[:120],
            reference=_marginals(bm.reference),
        )
    (out / "summary.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    (out / "summary.md").write_text(format_table(rows) + "\n")
    return rows
