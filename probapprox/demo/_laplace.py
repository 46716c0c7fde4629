r"""Demo helper: a MAP MLP on the bundled digits and a calibration table of its predictives.

Shared by ``examples/laplace_digits.py`` and the Laplace section of ``probapprox demo`` (not
public API). The MAP network comes from :mod:`probapprox.demo._laplace_map`. All Laplace and
predictive maths lives in :mod:`probapprox.laplace` and :mod:`probapprox.logits`; this module
only times and tabulates.

References:
    Daxberger et al. (2021), "Laplace Redux -- Effortless Bayesian Deep Learning", NeurIPS.
    Guo, Pleiss, Sun, Weinberger (2017), "On calibration of modern neural networks", ICML
    (temperature scaling).

"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from probapprox import laplace as pl
from probapprox import logits as plog
from probapprox.demo._laplace_map import fit_temperature, train_map

__all__ = [
    "LaplaceRow",
    "train_map",
    "fit_temperature",
    "laplace_predictives",
    "metric_rows",
    "digits_rows",
    "format_laplace_table",
    "write_laplace_tables",
    "run_laplace_demo",
]

_METRICS = ("accuracy", "nll", "ece", "brier", "mean_max_prob")
SOFTMAX_METHODS = ("sigma_points", "mean_field", "mc")
# One line per kind of row, printed under the table: what the row computes.
_PREDICTIVES = {
    "softmax": "softmax of the MAP logits",
    "sigma_points": "E[softmax(z)] over the Laplace logit Gaussian by a deterministic "
    "512-point cubature (as accurate as 1000 Monte Carlo draws; the recommended predictive)",
    "mean_field": "softmax(mu / sqrt(1 + pi/8 var)), a closed-form approximation of "
    "E[softmax(z)] (laplace-torch's link_approx='probit')",
    "mc": "E[softmax(z)] by 1000 Monte Carlo draws of the logit Gaussian",
    "laplace_bridge": "mean of the Laplace-bridge Dirichlet of the logit Gaussian",
    "normcdf": "normCDF-link probabilities Phi(z_c) / sum_k Phi(z_k) of the MAP logits "
    "(network trained with that likelihood)",
    "probit": "E[Phi(z_c)] / sum_k E[Phi(z_k)] = normalised Phi(mu / sqrt(1 + var)), exact "
    "for the normCDF link (network trained with that likelihood)",
}
_METHODS_NOTE = {
    "MAP": "the point estimate, no posterior",
    "MAP + temperature": "MAP logits divided by one temperature T fitted on the validation NLL",
}


def describe(method: str, predictive: str) -> str:
    """One line saying what a table row computes."""
    net = " of the normCDF-trained net" if method.endswith(" (normCDF net)") else ""
    name = method.removesuffix(" (normCDF net)")
    base = _METHODS_NOTE.get(name, f"{name} Laplace{net} (marglik prior precision), "
                             "linearised logit Gaussian z")  # fmt: skip
    what = _PREDICTIVES.get(predictive, predictive)
    if name == "MAP + temperature":
        what = "softmax(z / T)"
    return f"{method} / {predictive}: {base}; {what}."


@dataclass
class LaplaceRow:
    """One line of the table: a posterior/predictive pair on one data split."""

    method: str
    predictive: str
    split: str
    accuracy: float
    nll: float
    ece: float
    brier: float
    mean_max_prob: float
    seconds: float
    note: str = ""


def laplace_predictives(
    lap: Any,
    X: Any,
    *,
    key: Any,
    methods: Sequence[str] = SOFTMAX_METHODS,
    num_samples: int = 1000,
) -> dict[str, Any]:
    """Predictive probabilities ``{method: (N, C)}`` from ``lap.logits(X)`` (GLM logits)."""
    mean, cov = lap.logits(X)
    out = {}
    for m in methods:
        opts = {"key": key, "num_samples": num_samples} if m == "mc" else {}
        out[m] = plog.predictive(mean, cov, method=m, **opts)
    return out


@jax.jit
def _metrics(probs: jax.Array, labels: jax.Array) -> list[jax.Array]:
    """All of ``_METRICS`` in one compiled call (their concrete-value checks are skipped)."""
    return [getattr(plog, m)(probs, labels) for m in _METRICS]


def metric_rows(
    probs: dict[str, Any], labels: Any, *, method: str, split: str, seconds: float, note: str = ""
) -> list[LaplaceRow]:
    """One :class:`LaplaceRow` per predictive in ``probs`` (metrics of :mod:`probapprox.logits`)."""
    labels = jnp.asarray(labels)
    rows = []
    for name, p in probs.items():
        plog.mean_max_prob(p, labels)  # eager: the library's finite / simplex / label checks
        values = [float(v) for v in _metrics(p, labels)]
        rows.append(LaplaceRow(method, name, split, *values, seconds=seconds, note=note))
    return rows


def digits_rows(
    net: Any,
    params: list[dict],
    splits: dict[str, tuple[Any, Any]],
    laplaces: dict[str, tuple[Any, float]],
    *,
    train_seconds: float,
    val: tuple[Any, Any],
    key: Any,
    methods: Sequence[str] = SOFTMAX_METHODS,
    normcdf: tuple[Any, dict[str, tuple[Any, float]], float] | None = None,
) -> list[LaplaceRow]:
    """Rows for the MAP, the temperature-scaled MAP and each Laplace on every split.

    Args:
        net: The network ``apply_fn``.
        params: Its MAP.
        splits: ``{name: (X, y)}`` to evaluate on (e.g. ``test`` and ``shift30``).
        laplaces: ``{name: (Laplace, fit seconds)}``.
        train_seconds: Seconds spent training the MAP.
        val: ``(X, y)`` to fit the temperature on.
        key: PRNG key of the ``mc`` predictive.
        methods: Predictives of each Laplace (softmax predictives: the net is softmax-trained).
        normcdf: ``(params, {name: (Laplace, fit seconds)}, train seconds)`` of the same
            network trained with the normCDF likelihood, or None. It adds its MAP (normCDF
            link) and its Laplaces with the ``probit`` predictive, the one made for it.

    """
    t0 = time.perf_counter()
    temp = fit_temperature(net(params, val[0]), val[1])
    t_seconds = time.perf_counter() - t0
    rows: list[LaplaceRow] = []
    for split, (X, y) in splits.items():
        z = net(params, X)
        map_probs = {"softmax": jax.nn.softmax(z, axis=-1)}
        rows += metric_rows(map_probs, y, method="MAP", split=split, seconds=train_seconds)
        t_probs = {"softmax": jax.nn.softmax(z / temp, axis=-1)}
        rows += metric_rows(
            t_probs, y, method="MAP + temperature", split=split, seconds=t_seconds,
            note=f"T={temp:.3g} (val NLL)",
        )  # fmt: skip
        for name, (lap, seconds) in laplaces.items():
            delta = ", ".join(f"{d:.3g}" for d in sorted(set(map(float, lap.prior_precision))))
            probs = laplace_predictives(lap, X, key=key, methods=methods)
            rows += metric_rows(
                probs, y, method=name, split=split, seconds=seconds, note=f"delta={delta}"
            )
        if normcdf is not None:
            n_params, n_laps, n_seconds = normcdf
            probs = {"normcdf": plog.NormCDFCategorical(net(n_params, X)).probs}
            rows += metric_rows(
                probs, y, method="MAP (normCDF net)", split=split, seconds=n_seconds
            )
            for name, (lap, seconds) in n_laps.items():
                delta = ", ".join(f"{d:.3g}" for d in sorted(set(map(float, lap.prior_precision))))
                probs = laplace_predictives(lap, X, key=key, methods=("probit",))
                rows += metric_rows(
                    probs, y, method=f"{name} (normCDF net)", split=split, seconds=seconds,
                    note=f"delta={delta}",
                )  # fmt: skip
    return rows


def format_laplace_table(rows: list[LaplaceRow]) -> str:
    """Markdown table of the rows (accuracy: higher is better; NLL, ECE, Brier: lower)."""
    head = "| split | method | predictive | acc | NLL | ECE | Brier | mean max-p | fit s | note |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r.split} | {r.method} | {r.predictive} | {r.accuracy:.3f} | {r.nll:.3f} | "
            f"{r.ece:.3f} | {r.brier:.3f} | {r.mean_max_prob:.3f} | {r.seconds:.1f} | {r.note} |"
        )
    lines += ["", "Rows (the same on every split; shift30 = test digits rotated by 30°):"]
    seen = dict.fromkeys((r.method, r.predictive) for r in rows)
    lines += [f"- {describe(m, p)}" for m, p in seen]
    return "\n".join(lines)


def write_laplace_tables(
    rows: list[LaplaceRow], out: str | os.PathLike, *, config: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``laplace_digits.json`` (``{"config", "rows"}``) and ``laplace_digits.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "laplace_digits.json", out / "laplace_digits.md"
    js.write_text(json.dumps({"config": config, "rows": [asdict(r) for r in rows]}, indent=1))
    md.write_text(format_laplace_table(rows) + "\n")
    return js, md


def run_laplace_demo(
    out: str | os.PathLike, *, quick: bool = False, seed: int = 0
) -> list[LaplaceRow]:
    """The ``probapprox demo`` section: MAP MLP + last-layer KFAC Laplace (marglik prior).

    Full run: 64-128-128-10, 3000 steps, the softmax predictives ``sigma_points``,
    ``mean_field`` and ``mc``, and the same network trained with the normCDF likelihood
    (its last-layer KFAC Laplace with the ``probit`` predictive; the curvature is the
    softmax GGN at its MAP, as ``fit_laplace`` has no normCDF likelihood). ``quick``:
    64-32-32-10, 300 steps, ``sigma_points`` and ``mean_field`` only, no normCDF network.
    Writes the tables into ``out``; returns the rows.
    """
    from probapprox.models.digits import shift_digits, split_digits  # the repo's models package

    hidden, steps, delta = (32, 300, 1.0) if quick else (128, 3000, 1.0)
    methods = ("sigma_points", "mean_field") if quick else SOFTMAX_METHODS
    data = split_digits(seed)
    (X, y), (Xt, yt) = data["train"], data["test"]

    def fit(likelihood: str) -> tuple[Any, Any, float, dict[str, tuple[Any, float]]]:
        t0 = time.perf_counter()
        net, params = train_map(
            X, y, hidden=hidden, steps=steps, prior_precision=delta, seed=seed,
            likelihood=likelihood,
        )  # fmt: skip
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        lap = pl.fit_laplace(
            net, params, X, y, subset="last_layer", structure="kron", feature_fn=net.features,
            prior_precision=delta,
        ).optimize_prior_precision("marglik")  # fmt: skip
        return net, params, train_seconds, {"last-layer KFAC": (lap, time.perf_counter() - t0)}

    net, params, train_seconds, laps = fit("softmax")
    normcdf = None
    if not quick:
        _, n_params, n_seconds, n_laps = fit("normcdf")
        normcdf = (n_params, n_laps, n_seconds)
    splits = {"test": (Xt, yt), "shift30": (shift_digits(Xt, degrees=30.0), yt)}
    rows = digits_rows(
        net, params, splits, laps, train_seconds=train_seconds, val=data["val"],
        key=jax.random.PRNGKey(seed), methods=methods, normcdf=normcdf,
    )  # fmt: skip
    config = {"hidden": hidden, "steps": steps, "prior_precision": delta, "seed": seed}
    write_laplace_tables(rows, out, config=config)
    return rows
