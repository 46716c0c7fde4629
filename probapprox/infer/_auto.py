r"""``pa.fit(model, "auto")``: climb a ladder of families, certify, and return the best.

First the posterior potential is searched for its maxima from dispersed starts
(:mod:`probapprox.potential`). Then the rungs of :mod:`._auto_rungs` run cheapest first,
each an ordinary :func:`probapprox.fit` (the Laplace rung is read off the search:
:mod:`._auto_laplace`), and each is judged from ``num_draws`` (default
:math:`10^4`) draws by its ELBO :math:`\hat L \pm \mathrm{se}` and PSIS :math:`\hat k`:

* **certified**: :math:`\hat k < 0.7`, no other rung's ELBO (a cheaper one's when it runs, a
  richer one's once the ladder ends) beats it by more than two combined standard errors (a
  worse ELBO means more KL, whatever :math:`\hat k` says; measured on the banana: the
  Gaussian at :math:`\hat k` 0.68 and KL 0.56 against an affine MAF at KL 0.027 and
  :math:`\hat k` 1.0), and
  its draws miss none of the modes found (:func:`._auto_rungs.missed_modes`: PSIS cannot see
  a mode that ``q`` misses);
* **stop**: at a certified rung that a richer one cannot be expected to beat: its importance
  estimate of :math:`\mathrm{KL}(q\|p) = \log Z - \mathrm{ELBO}`, :math:`\log \hat Z - \hat L`
  with :math:`\hat Z = \frac1S \sum_s p(x, z_s) / q(z_s)` (:func:`judge`), is below
  ``GAP_TOL`` = 0.02 nats and :math:`\hat k < 0.5` (so that :math:`\hat Z` has finite variance
  and the estimate is trustworthy); a richer family can gain at most that gap in ELBO. The
  Laplace and Gaussian rungs stop only when one mode was found; when their estimate is
  nonetheless above three standard errors and ``GAP_FLOOR``, and the mode is round enough
  for isotropic components (:func:`polishes`), the mixture rung runs once more before the
  ladder ends. With several modes the
  single-Gaussian rung is skipped (it cannot cover them), without a converged mode the
  Laplace rung is, and with at most one mode the isotropic mixture is (the flow rung, started
  from the Gaussian, is the richer family there); the per-mode Laplace mixture (``modes``)
  needs two or more modes with regular curvature. With one mode the flow rung (an affine
  masked autoregressive flow) starts from the best single-Gaussian rung's fit (its final
  triangular affine layer is that Gaussian's mean and Cholesky factor, the other layers the
  identity), so it starts at that rung's ELBO;
* **result**: the certified rung with the highest ELBO; if none is certified, the rung with the
  highest ELBO and an :class:`~probapprox.ApproximationWarning` saying what was tried.

Every rung's fit skips non-finite steps (``skip_nonfinite=True``; they are counted in its
``num_skipped``), so one bad step does not end a rung. ``max_rung`` (1-5 or a rung name) and
``time_budget`` (seconds, checked before each rung)
cap the ladder. The ladder goes to ``result.info["auto"]`` and ``print(result.diagnostics())``.

Reference: Yao, Vehtari, Simpson, Gelman (2018), "Yes, but did it work?: Evaluating
variational inference", ICML (PSIS :math:`\hat k` as the certificate).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from probapprox.infer._auto_judge import (
    GAP_TOL,
    KHAT_CERTIFIED,
    KHAT_GOOD,
    NUM_DRAWS,
    beaten_by,
    choose,
    judge,
    polishes,
    same_gaussian,
    stops,
)
from probapprox.infer._auto_laplace import gaussian_result, laplace_result
from probapprox.infer._auto_report import ladder_row
from probapprox.infer._auto_rungs import RUNGS, missed_modes, mode_stack, rung_guide
from probapprox.infer._nonfinite import NonFiniteError
from probapprox.infer._result import FitResult
from probapprox.potential import (
    ModeSearch,
    dispersed_starts,
    find_modes,
    model_potential,
    nonfinite_site,
)

__all__ = ["fit_auto", "judge", "GAP_TOL", "KHAT_CERTIFIED", "KHAT_GOOD"]

_UNSUPPORTED = (
    "optimizer",
    "loss",
    "init_params",
    "callback",
    "mesh",
    "num_starts",
    "multi_start",
)


def _num_starts(dim: int) -> int:
    return 64 if dim <= 10 else 16 if dim <= 50 else 8


def _search(model: Callable, args: tuple, kwargs: dict, seed: int, dense_max: int) -> tuple:
    mp = model_potential(model, args, kwargs)
    starts = dispersed_starts(mp, _num_starts(mp.dim), seed)
    values = np.asarray(jax.jit(jax.vmap(mp.potential))(jnp.asarray(starts)))
    if not np.any(np.isfinite(values)):
        site = nonfinite_site(mp, starts[0])
        where = f"site {site!r}" if site else "the model"
        raise ValueError(
            f"pa.fit(model, 'auto'): the log density is NaN or -inf at every one of the "
            f"{len(starts)} start points; {where} has no finite log density there (e.g. data "
            "outside the support, or a constraint the prior does not encode). Fix the model "
            "or its data."
        )
    return mp, find_modes(mp.potential, starts, dense_max=dense_max)


def _max_rung(max_rung: int | str | None) -> int:
    if max_rung is None:
        return len(RUNGS)
    if isinstance(max_rung, str) and max_rung in RUNGS:
        return RUNGS.index(max_rung) + 1
    if isinstance(max_rung, int) and 1 <= max_rung <= len(RUNGS):
        return max_rung
    raise ValueError(
        f"pa.fit(model, 'auto', max_rung={max_rung!r}): give 1-{len(RUNGS)} or one of "
        f"{', '.join(RUNGS)}."
    )


def _skip(rung: str, search: ModeSearch, top: int) -> str:
    if rung == "laplace" and search.best is None:
        return "skipped: no MAP search converged (no mode, or it is far from the mass)"
    if rung == "gaussian" and len(search.modes) > 1:
        return f"skipped: {len(search.modes)} modes; one Gaussian cannot cover them"
    if rung == "modes":
        if len(search.modes) < 2:
            return "skipped: fewer than two modes"
        if not search.dense or any(m.num_clipped for m in search.modes):
            return "skipped: a mode's curvature is singular or not dense (no Laplace Gaussian)"
    if rung == "mixture" and len(search.modes) < 2 and top == len(RUNGS):
        return "skipped: at most one mode; the flow rung, started from the Gaussian, is richer"
    return ""


def _gaussian_base(rows: list, fits: list, search: ModeSearch) -> dict[str, Any] | None:
    """``loc`` and ``scale_tril`` of the best single-Gaussian rung (one mode found), or None."""
    if len(search.modes) > 1:
        return None
    ok = [i for i, f in enumerate(fits) if f is not None and "auto_scale_tril" in f.params]
    if not ok:
        return None
    best = max(ok, key=lambda i: rows[i]["elbo"] if np.isfinite(rows[i]["elbo"]) else -np.inf)
    p = fits[best].params
    return {"loc": np.asarray(p["auto_loc"]), "scale_tril": np.asarray(p["auto_scale_tril"])}


def _checkpoint(path: Any, rung: str) -> Any:
    if path is None:
        return None
    p = Path(path)
    return p.with_name(f"{p.stem}.{rung}{p.suffix or '.npz'}")


def fit_auto(
    fit: Callable,
    model: Callable,
    args: tuple,
    kwargs: dict,
    *,
    seed: int = 0,
    dense_max: int = 200,
    checkpoint: Any = None,
    options: dict[str, Any],
    ignored: dict[str, Any],
) -> FitResult:
    """Run the ladder (see the module docstring); ``fit`` is :func:`probapprox.fit`.

    ``kwargs`` are the model's keyword arguments plus ``max_rung``, ``time_budget`` and
    ``num_draws``, which the ladder takes out. ``options`` go to every rung's fit.
    """
    kwargs = dict(kwargs)
    top = _max_rung(kwargs.pop("max_rung", None))
    budget = kwargs.pop("time_budget", None)
    num_draws = int(kwargs.pop("num_draws", NUM_DRAWS))
    if budget is not None and not budget > 0:
        raise ValueError(f"pa.fit(model, 'auto', time_budget={budget!r}) must be > 0 seconds.")
    bad = [k for k in _UNSUPPORTED if ignored.get(k) is not None]
    if bad:
        raise ValueError(
            f"pa.fit(model, 'auto', {bad[0]}={ignored[bad[0]]!r}): the auto ladder does not take "
            f"{bad[0]}; it sets each rung's estimator, optimiser and starts itself and runs on one "
            "device. Pass a guide (e.g. 'AutoMultivariateNormal') to set it."
        )
    t0 = time.perf_counter()
    mp, search = _search(model, args, kwargs, seed, dense_max)
    rows: list[dict[str, Any]] = []
    fits: list[FitResult | None] = []
    shared = None  # the Laplace rung's compiled sampler, reused to judge the Gaussian rung
    only = None  # after a stop that polishes (see `polishes`): the one rung still to run
    for i, rung in enumerate(RUNGS):
        name = rung
        if only is not None and rung != only:
            rows.append(ladder_row(name, "-", verdict="not needed"))
            fits.append(None)
            continue
        if i >= top:
            rows.append(ladder_row(name, "-", verdict=f"skipped: max_rung={top}"))
            fits.append(None)
            continue
        spent = budget is not None and time.perf_counter() - t0 > budget
        if spent and any(f is not None for f in fits):
            rows.append(ladder_row(name, "-", verdict=f"skipped: time_budget={budget} s spent"))
            fits.append(None)
            continue
        why = "" if rung == only else _skip(rung, search, top)
        if why:
            rows.append(ladder_row(name, "-", verdict=why))
            fits.append(None)
            continue
        t = time.perf_counter()
        base = _gaussian_base(rows, fits, search) if rung == "flow" else None
        guide, extra = rung_guide(
            rung,
            model,
            search,
            mp.dim,
            dense_max=dense_max,
            seed=seed,
            base=base,
            num_steps=options.get("num_steps") or 5000,
        )
        if rung == "flow" and options.get("early_stop") is not True:
            extra.pop("early_stop", None)  # the user's own rule (or none) wins
        # a rung whose steps meet a non-finite value skips them (counted) instead of dying
        opts = {**options, "skip_nonfinite": True, **extra,
                "checkpoint": _checkpoint(checkpoint, rung)}  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # judged below by its ELBO and k̂ instead
                res = None
                if rung == "laplace":  # the search's Newton MAP and curvature: no steps
                    res = laplace_result(model, args, kwargs, search, seed=seed,
                                         dense_max=dense_max)  # fmt: skip
                if rung == "modes":  # the modes' Laplace Gaussians, stacked below: no steps
                    first = extra["init_params"]
                    note = {"modes": "Laplace Gaussians of the modes"}
                    res = gaussian_result(model, guide, args, kwargs, first["auto_loc"],
                                          first["auto_scale_tril"], seed=seed,
                                          loss=-float(search.modes[0].log_density),
                                          info=note)  # fmt: skip
                if res is None:
                    res = fit(model, guide, *args, seed=seed, dense_max=dense_max, **opts,
                              **kwargs)  # fmt: skip
                if rung == "modes":
                    res = mode_stack(res, search, num_draws=num_draws, seed=seed + 1)
                reuse = shared if rung == "gaussian" and same_gaussian(res) else None
                d, gap, gap_se, draws = judge(res, num_draws, seed + 2, sampler=reuse)
                if rung == "laplace" and same_gaussian(res):
                    shared = (res._sampler or {}).get(False)
                few = {k: v[:2000] for k, v in draws.latent.items()}
                missed = missed_modes(few, mp.supports, search)
        except (NonFiniteError, ValueError, FloatingPointError) as err:
            rows.append(ladder_row(name, type(guide).__name__, seconds=time.perf_counter() - t,
                                   verdict=f"failed: {str(err).splitlines()[0][:80]}"))  # fmt: skip
            fits.append(None)
            continue
        row = ladder_row(name, type(guide).__name__, elbo=d.elbo, elbo_se=d.elbo_se,
                         khat=d.pareto_k, gap=gap, seconds=time.perf_counter() - t)  # fmt: skip
        beaten = beaten_by(row, rows)
        khat_ok = np.isfinite(d.pareto_k) and d.pareto_k < KHAT_CERTIFIED or d.pareto_k == -np.inf
        row["certified"] = bool(khat_ok and not beaten and not missed and np.isfinite(d.elbo))
        if row["certified"]:
            row["verdict"] = "certified"
        elif missed:
            row["verdict"] = f"not certified: misses {missed} of {len(search.modes)} modes"
        elif beaten:
            row["verdict"] = f"not certified: {beaten[0]} has a higher ELBO"
        else:
            row["verdict"] = f"not certified: k̂ ≥ {KHAT_CERTIFIED}"
        rows.append(row)
        fits.append(res)
        stop = only is not None  # the polishing rung ends the ladder
        if not stop and row["certified"] and stops(rung, d.pareto_k, gap, search):
            row["verdict"] += f"; stop: KL estimate {gap:.3f} < {GAP_TOL}"
            if polishes(rung, gap, gap_se, search) and RUNGS.index("mixture") < top:
                row["verdict"] += f", above its noise (± {gap_se:.4f}): the mixture rung polishes"
                only = "mixture"
                continue
            row["verdict"] += ", nothing left to gain"
            stop = True
        if stop:
            for rest in RUNGS[i + 1 :]:
                rows.append(ladder_row(rest, "-", verdict="not needed"))
                fits.append(None)
            break
    return choose(rows, fits, search, time.perf_counter() - t0)
