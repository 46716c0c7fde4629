"""``fit``: run SVI for any NumPyro guide in jitted ``lax.scan`` chunks."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from numpyro.infer import SVI

from probapprox._checks import check_int
from probapprox.guides import make_guide
from probapprox.infer._args import split_args
from probapprox.infer._checkpoint import read_checkpoint
from probapprox.infer._converge import ConvergenceRule, warn_not_converged
from probapprox.infer._defaults import default_loss, default_optimizer
from probapprox.infer._finish import finish
from probapprox.infer._fit_options import (
    as_optimizer,
    check_continuous,
    check_options,
    settles,
    stop_note,
    stopping_rule,
)
from probapprox.infer._loop import run_loop
from probapprox.infer._mesh import check_mesh, on_mesh, place_args, place_state
from probapprox.infer._nonfinite import explain_nonfinite
from probapprox.infer._result import FitResult
from probapprox.infer._starts import prepare_starts
from probapprox.infer._step import SVIView, constrain_with, make_chunk_fn
from probapprox.infer._subsample import search_model

__all__ = ["fit"]

_MAX_CHUNK = 1000
_TARGET_UPDATES = 50
_OWNER = "probapprox.fit"


def fit(
    model: Callable,
    guide: Any,
    *args: Any,
    num_steps: int = 5000,
    seed: int = 0,
    optimizer: Any = None,
    loss: Any = None,
    progress: bool = True,
    skip_nonfinite: bool = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    chunk_size: int | None = None,
    init_params: dict | None = None,
    callback: Callable[[int, np.ndarray], None] | None = None,
    warm_start: bool = True,
    early_stop: bool | ConvergenceRule = True,
    num_starts: int = 1,
    multi_start: str = "best",
    dense_max: int = 200,
    mesh: Any = None,
    **kwargs: Any,
) -> FitResult:
    """Fit ``guide`` to the posterior of ``model`` by stochastic variational inference.

    Minimises the negative ELBO ``E_q[log q(θ) − log p(x, θ)]`` with the guide's own
    estimator and optimiser where it defines them (``default_loss(num_steps)``,
    ``default_optimizer(num_steps)``), else :class:`~probapprox.estimators.PathELBO` for
    NumPyro's Gaussian autoguides (``Trace_ELBO`` for other guides) and Adam with a
    cosine-decayed step size. An optimiser with a ``paired_loss()`` (e.g.
    :class:`~probapprox.optim.FBGVI`) brings its own loss. Steps run inside jitted
    ``lax.scan`` chunks; the progress bar, callback, checkpoints and the stopping rule act
    between chunks. A guide with a ``post_fit(params, *args, **kwargs) -> params`` method
    (e.g. :class:`~probapprox.guides.AutoLaplace`) gets to finish its parameters after the loop.

    Robust defaults (each can be turned off):

    * ``warm_start``: the MAP of the unconstrained potential (damped Newton, or L-BFGS above
      ``dense_max`` dimensions) and its eigenvalue-clipped curvature ``H``; the fit then runs
      in whitened coordinates ``u = C⁻¹(z − z_MAP)`` with ``CCᵀ = H⁻¹`` (dense for
      ``AutoMultivariateNormal``, diagonal for the other supported guides), starting from
      the Laplace approximation. Parameters are mapped back exactly, so ``params``,
      ``sample``, ``to_arviz`` and ``save``/``load`` are in the model's coordinates.
      Unsupported guides and rejected warm starts are noted in ``info["warm_start"]``.
    * ``early_stop``: stop when :class:`~probapprox.ConvergenceRule` finds the loss settled
      (``num_steps`` is the cap); ``FitResult.converged`` / ``converged_at`` report it, and a
      :class:`~probapprox.ConvergenceWarning` is emitted when the cap came first.

    Args:
        model: a NumPyro model.
        guide: a NumPyro guide for it (e.g. an ``AutoGuide``), or a registered guide name
            such as ``"AutoMultivariateNormal"``.
        *args: positional arguments of the model (and guide).
        num_steps: number of optimisation steps (the cap, with ``early_stop``).
        seed: integer seed; the same seed gives the same fit.
        optimizer: a ``numpyro.optim`` optimizer or an optax ``GradientTransformation``.
        loss: a NumPyro ELBO estimator.
        progress: show a progress bar with the smoothed loss.
        skip_nonfinite: skip steps whose loss or gradient is not finite (they are
            counted in ``FitResult.num_skipped``) instead of stopping with an error.
        checkpoint: file to write the full loop state to; if it exists and ``resume`` is
            true, the fit resumes from it and the result is bit-identical to an
            uninterrupted fit.
        checkpoint_every: write the checkpoint every this many steps (default: at the end,
            and when interrupted with Ctrl-C).
        resume: resume from an existing ``checkpoint`` (else overwrite it).
        chunk_size: steps per jitted chunk (default: about 50 chunks per fit, at most 1000).
        init_params: initial values for some guide parameters (constrained; turns off the
            warm start).
        callback: called as ``callback(step, chunk_losses)`` after every chunk.
        warm_start: start from the MAP and whiten by the curvature (see above).
        early_stop: ``True`` (default rule), ``False`` (run all steps; ``converged`` is still
            reported) or a :class:`~probapprox.ConvergenceRule`.
        num_starts: ``K`` runs from dispersed starts in one vectorised program; they are
            compared by ELBO, PSIS k̂ and R̂ across runs (a warning when they disagree).
        multi_start: ``"best"`` (the run with the highest ELBO) or ``"stack"`` (a
            PSIS-weighted mixture of the runs).
        dense_max: largest latent dimension for a dense Hessian in the warm start.
        mesh: a :class:`jax.sharding.Mesh` with a ``"data"`` axis (the model's data, and each
            step's subsample, are split over its devices; XLA reduces the gradient inside
            the jitted chunk) and/or a ``"starts"`` axis (the ``num_starts`` runs are spread
            over its devices). The fit is the same as without, up to the order of
            floating-point sums. See :mod:`probapprox.infer._mesh`.
        **kwargs: keyword arguments of the model (and guide).

    Returns:
        A :class:`FitResult`.

    Raises:
        probapprox.NonFiniteError: the loss or a gradient became non-finite (names the step,
            the model or guide site and the parameters).

    """
    num_steps = check_int(_OWNER, "num_steps", num_steps)
    seed = check_int(_OWNER, "seed", seed, minimum=0)
    num_starts = check_options(warm_start, num_starts, multi_start, dense_max)
    mesh = check_mesh(mesh, num_starts)  # scale hook
    if isinstance(guide, str):
        guide = make_guide(guide, model)
    if not callable(guide):
        raise TypeError(f"probapprox.fit(guide=...) expects a NumPyro guide; got {guide!r}.")
    if checkpoint_every is not None:
        checkpoint_every = check_int(_OWNER, "checkpoint_every", checkpoint_every)
        if checkpoint is None:
            raise ValueError("probapprox.fit(checkpoint_every=...) needs checkpoint=<path>.")
    if chunk_size is None:
        chunk_size = min(_MAX_CHUNK, max(1, math.ceil(num_steps / _TARGET_UPDATES)))
    chunk_size = check_int(_OWNER, "chunk_size", chunk_size)
    if checkpoint_every is not None:
        chunk_size = min(chunk_size, checkpoint_every)

    args, kwargs = place_args(args, kwargs, mesh, model)  # scale hook: data over "data"
    check_continuous(model, args, kwargs)
    if loss is None and callable(getattr(optimizer, "paired_loss", None)):
        loss = optimizer.paired_loss()  # e.g. FBGVI, whose update lives in its loss
    loss = default_loss(guide, num_steps) if loss is None else loss
    optim = default_optimizer(guide, num_steps) if optimizer is None else as_optimizer(optimizer)
    rule = stopping_rule(early_stop, num_steps, chunk_size, loss)
    stops = early_stop is not False and settles(loss, guide)
    svi = SVI(model, guide, optim, loss)
    dynamic, rebuild = split_args(args, kwargs)
    # >>> scale hook: subsampled plates search on the full data (probapprox.infer._subsample)
    searched, warm_start, sub_info = search_model(model, args, kwargs, warm_start=warm_start)
    # <<< scale hook
    starts = prepare_starts(
        svi,
        searched,
        guide,
        args,
        kwargs,
        dynamic,
        rebuild,
        seed=seed,
        num_starts=num_starts,
        warm_start=warm_start,
        dense_max=dense_max,
        init_params=init_params,
        skip_log=skip_nonfinite,
    )
    carry, extra = starts.carry, starts.extra

    header = {
        "seed": seed,
        "num_steps": num_steps,
        "guide": type(guide).__name__,
        "num_starts": num_starts,
        "whitened": starts.to_model is not None,
    }
    losses: list[np.ndarray] = []
    if checkpoint is not None and resume and Path(checkpoint).exists():
        (carry, extra), prev = read_checkpoint(checkpoint, (carry, extra), header)
        losses.append(prev)
    carry, extra = place_state((carry, extra), mesh, batched=starts.batched)  # scale hook

    def on_failure(new: Any, failed: np.ndarray) -> None:
        k = int(np.argmax(failed >= 0))
        pick = (lambda x: x[k]) if starts.batched else (lambda x: x)
        view = SVIView(svi, constrain_with(svi, starts.to_model, jax.tree.map(pick, extra)))
        raise explain_nonfinite(
            view,
            jax.tree.map(pick, new.svi_state),
            int(failed[k]),
            np.asarray(pick(new.bad_leaves)),
            args,
            kwargs,
        )

    chunk = make_chunk_fn(
        svi,
        rebuild,
        chunk_size,
        skip_nonfinite=skip_nonfinite,
        to_model=starts.to_model,
        batched=starts.batched,
    )
    chunk = on_mesh(chunk, mesh)  # scale hook: subsample indices over "data"
    t0 = time.perf_counter()
    out = run_loop(
        chunk,
        carry,
        extra,
        dynamic,
        num_steps=num_steps,
        chunk_size=chunk_size,
        losses=losses,
        rule=rule,
        early_stop=stops,
        progress=progress,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        header=header,
        callback=callback,
        on_failure=on_failure,
    )
    seconds = time.perf_counter() - t0
    info = {
        "guide": type(guide).__name__,
        "loss": type(loss).__name__,
        "optimizer": type(optim).__name__,
        "num_steps": num_steps,
        "early_stop": stop_note(early_stop, loss, stops=stops),
        **starts.info,
    }
    # >>> scale hook
    note = sub_info.pop("warm_start_note", None)
    info.update(sub_info, **({"warm_start": note} if note else {}))
    # <<< scale hook
    result = finish(
        svi,
        model,
        guide,
        args,
        kwargs,
        out,
        extra,
        starts.to_model,
        seed=seed,
        info=info,
        seconds=seconds,
        multi_start=multi_start,
    )
    if early_stop is not False and not result.converged:
        warn_not_converged(num_steps, rule, rule.change_bound(result.losses))
    return result
