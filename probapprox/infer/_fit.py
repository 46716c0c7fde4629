"""``fit``: run SVI for any NumPyro guide in jitted ``lax.scan`` chunks."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from probapprox.infer._converge import ConvergenceRule, warn_not_converged
from probapprox.infer._finish import finish
from probapprox.infer._loop import run_loop
from probapprox.infer._mesh import check_mesh, place_args
from probapprox.infer._plan import make_plan
from probapprox.infer._result import FitResult
from probapprox.infer._starts import prepare_starts
from probapprox.infer._subsample import search_model
from probapprox.infer._validate import validate_fit_inputs

__all__ = ["fit"]


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
    estimator and optimiser where it defines them (the ``default_loss(num_steps)`` and
    ``default_optimizer(num_steps)`` hooks of :class:`~probapprox.guides.FitHooks`), else
    :class:`~probapprox.estimators.PathELBO` for NumPyro's Gaussian autoguides
    (``Trace_ELBO`` for other guides) and Adam with a cosine-decayed step size. An
    optimiser with a ``paired_loss()`` (e.g. :class:`~probapprox.optim.FBGVI`) brings its
    own loss. Steps run inside jitted ``lax.scan`` chunks; the progress bar, callback,
    checkpoints and the stopping rule act between chunks. A guide with a
    ``post_fit(params, *args, **kwargs) -> params`` hook (e.g.
    :class:`~probapprox.guides.AutoLaplace`) gets to finish its parameters after the loop.

    The walk: :func:`~._plan.make_plan` checks the arguments and fixes every decision in a
    frozen ``FitPlan``; the three stages read it: ``prepare_starts`` (warm start, whitening,
    ``K`` starts), ``run_loop`` (chunks, stopping rule, checkpoints) and ``finish`` (model
    coordinates, ``post_fit``, best run or PSIS stack).

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
        guide: a NumPyro guide for it (e.g. an ``AutoGuide``), a registered guide name
            such as ``"AutoMultivariateNormal"``, or ``"auto"``: climb a ladder of families
            (Laplace, Gaussian, mixture, flow) and return the best certified one (see
            :mod:`probapprox.infer._auto`; model keywords ``max_rung``, ``time_budget`` and
            ``num_draws`` cap and tune it; ``result.info["auto"]`` holds the ladder).
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
    if isinstance(guide, str) and guide == "auto":  # the family ladder: see infer/_auto.py
        from probapprox.infer._auto import fit_auto

        opts = {
            "num_steps": num_steps,
            "progress": progress,
            "skip_nonfinite": skip_nonfinite,
            "checkpoint_every": checkpoint_every,
            "resume": resume,
            "chunk_size": chunk_size,
            "warm_start": warm_start,
            "early_stop": early_stop,
        }
        unused = {  # the ladder sets these per rung: refused rather than ignored
            "optimizer": optimizer,
            "loss": loss,
            "init_params": init_params,
            "callback": callback,
            "mesh": mesh,
            "num_starts": None if num_starts == 1 else num_starts,
            "multi_start": None if multi_start == "best" else multi_start,
        }
        return fit_auto(
            fit,
            model,
            args,
            kwargs,
            seed=seed,
            dense_max=dense_max,
            checkpoint=checkpoint,
            options=opts,
            ignored=unused,
        )
    checkpoint = validate_fit_inputs(**locals())  # every argument, before any compilation
    mesh = check_mesh(mesh, num_starts)
    args, kwargs = place_args(args, kwargs, mesh, model)  # the data over the "data" axis
    # subsampled plates: the warm start searches the full-data model (see infer._subsample)
    searched, warm_start, sub_info = search_model(model, args, kwargs, warm_start=warm_start)
    plan = make_plan(
        model,
        guide,
        args,
        kwargs,
        num_steps=num_steps,
        seed=seed,
        optimizer=optimizer,
        loss=loss,
        progress=progress,
        skip_nonfinite=skip_nonfinite,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        chunk_size=chunk_size,
        init_params=init_params,
        callback=callback,
        warm_start=warm_start,
        early_stop=early_stop,
        num_starts=num_starts,
        multi_start=multi_start,
        dense_max=dense_max,
    )
    plan = dataclasses.replace(plan, search_model=searched, notes=sub_info, mesh=mesh)
    starts = prepare_starts(plan)  # initial loop state: warm start, whitening, K starts
    out = run_loop(plan, starts)  # jitted chunks until the cap or the stopping rule
    result = finish(plan, starts, out)  # model coordinates, post_fit, best run or stack
    if plan.warn_unconverged and not result.converged:
        warn_not_converged(plan.num_steps, plan.rule, plan.rule.change_bound(result.losses))
    return result
