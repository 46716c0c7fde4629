"""``FitPlan``: every decision of a fit, made once, before any state exists.

:func:`make_plan` checks the arguments of :func:`probapprox.fit`, resolves the guide's
:class:`~probapprox.guides.FitHooks` (loss, optimiser, schedules, paired losses) and fixes the
chunking and the stopping rule. The frozen plan is then read, never changed, by the three
stages of a fit: the starts (:mod:`._starts`), the loop (:mod:`._loop`) and the finish
(:mod:`._finish`).

The model's arguments are split once (:func:`split_args`): array-valued leaves of
``(args, kwargs)`` are passed to jitted functions as arguments (so large data are not baked
into a compiled program as constants); everything else (Python scalars, strings, ``None``,
callables) is closed over, as NumPyro's ``SVI.run`` does, so that models may use them for
shapes and control flow.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import numpy as np
import optax
from numpyro.infer import SVI
from numpyro.optim import _NumPyroOptim, optax_to_numpyro

from probapprox._checks import check_choice, check_int
from probapprox.guides import make_guide
from probapprox.infer._converge import ConvergenceRule
from probapprox.infer._hooks import hook, schedule_steps, settles
from probapprox.infer._static_trace import read_trace

__all__ = ["FitPlan", "make_plan", "split_args"]

_MAX_CHUNK = 1000
_TARGET_UPDATES = 50
_OWNER = "probapprox.fit"


def split_args(
    args: tuple, kwargs: dict
) -> tuple[list[Any], Callable[[list[Any]], tuple[tuple, dict]]]:
    """Return ``(dynamic_leaves, rebuild)`` with ``rebuild(dynamic_leaves) == (args, kwargs)``."""
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    mask = [isinstance(x, jax.Array | np.ndarray) and np.ndim(x) > 0 for x in leaves]
    dynamic = [leaf for leaf, m in zip(leaves, mask, strict=True) if m]
    static = [None if m else leaf for leaf, m in zip(leaves, mask, strict=True)]

    def rebuild(dyn: list[Any]) -> tuple[tuple, dict]:
        it = iter(dyn)
        full = [next(it) if m else s for s, m in zip(static, mask, strict=True)]
        return jax.tree_util.tree_unflatten(treedef, full)

    return dynamic, rebuild


@dataclass(frozen=True, eq=False)
class FitPlan:
    """Everything a fit will do, fixed before it starts (see :func:`make_plan`).

    Attributes:
        model, guide, args, kwargs: the model, its (initialisable) guide and arguments.
        dynamic, rebuild: the array leaves of ``(args, kwargs)`` and the function that puts
            them back (:func:`split_args`); jitted code takes ``dynamic`` as an argument.
        loss, optim, svi: the resolved estimator, optimiser and the ``SVI`` around them.
        num_steps, seed, chunk_size: the step cap, the seed and the steps per jitted chunk.
        rule: the stopping rule, never firing before the loss's own schedules end.
        early_stop: whether the loop stops when ``rule`` fires (off for estimators whose
            gradient noise does not vanish at the optimum); ``early_stop_note`` says why.
        warn_unconverged: emit a ConvergenceWarning when the cap comes first.
        num_starts, multi_start: ``K`` starts and how they are combined (``"best"``/``"stack"``).
        warm_start, dense_max: the MAP warm start and its dense-Hessian limit.
        warm_blocked: why the warm start cannot apply at all ("" if it can).
        init_params: user-given initial guide parameters, or ``None``.
        skip_nonfinite, progress, callback: per-step and per-chunk behaviour.
        checkpoint, checkpoint_every, resume: checkpoint file and schedule.
        search_model: the model the warm start searches on (the full-data model when a plate
            subsamples; ``None``: ``model``).
        notes: extra ``info`` entries (e.g. the subsampled plates).
        mesh: the device mesh of a sharded fit (``None``: one device).

    """

    model: Callable
    guide: Any
    args: tuple
    kwargs: dict
    dynamic: list
    rebuild: Callable[[list], tuple[tuple, dict]]
    loss: Any
    optim: Any
    svi: SVI
    num_steps: int
    seed: int
    chunk_size: int
    rule: ConvergenceRule
    early_stop: bool
    early_stop_note: str
    warn_unconverged: bool
    num_starts: int
    multi_start: str
    warm_start: bool
    dense_max: int
    warm_blocked: str
    init_params: dict | None
    skip_nonfinite: bool
    progress: bool
    callback: Callable[[int, np.ndarray], None] | None
    checkpoint: str | os.PathLike | None
    checkpoint_every: int | None
    resume: bool
    search_model: Callable | None = None
    notes: dict = field(default_factory=dict)
    mesh: Any = None

    @property
    def batched(self) -> bool:
        """Several starts: the loop state has a leading axis of length ``num_starts``."""
        return self.num_starts > 1

    def pick(self, tree: Any, k: int) -> Any:
        """Run ``k``'s slice of a (possibly batched) pytree of loop state."""
        return jax.tree.map(lambda x: x[k], tree) if self.batched else tree

    def info(self) -> dict[str, Any]:
        """The plan's part of ``FitResult.info``."""
        return {
            "guide": type(self.guide).__name__,
            "loss": type(self.loss).__name__,
            "optimizer": type(self.optim).__name__,
            "num_steps": self.num_steps,
            "early_stop": self.early_stop_note,
            **{k: v for k, v in self.notes.items() if k != "warm_start_note"},
            **({"warm_start": n} if (n := self.notes.get("warm_start_note")) else {}),
        }


def make_plan(
    model: Callable,
    guide: Any,
    args: tuple,
    kwargs: dict,
    *,
    num_steps: Any,
    seed: Any,
    optimizer: Any,
    loss: Any,
    progress: bool,
    skip_nonfinite: bool,
    checkpoint: str | os.PathLike | None,
    checkpoint_every: Any,
    resume: bool,
    chunk_size: Any,
    init_params: dict | None,
    callback: Callable | None,
    warm_start: Any,
    early_stop: Any,
    num_starts: Any,
    multi_start: Any,
    dense_max: Any,
) -> FitPlan:
    """Check the arguments of :func:`probapprox.fit` and fix every decision of the fit."""
    num_steps = check_int(_OWNER, "num_steps", num_steps)
    seed = check_int(_OWNER, "seed", seed, minimum=0)
    if not isinstance(warm_start, bool):
        raise TypeError(
            f"probapprox.fit(warm_start=...) expects True or False; got {warm_start!r}."
        )
    check_choice(_OWNER, "multi_start", multi_start, ("best", "stack"))
    dense_max = check_int(_OWNER, "dense_max", dense_max)
    num_starts = check_int(_OWNER, "num_starts", num_starts)
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
    check_continuous(model, args, kwargs)

    paired = hook(optimizer, "paired_loss")
    if loss is None and paired is not None:
        loss = paired()  # e.g. FBGVI, whose update lives in its loss
    loss = hook(guide, "default_loss")(num_steps) if loss is None else loss
    if optimizer is None:
        optim = hook(guide, "default_optimizer")(num_steps)
    else:
        optim = _as_optim(optimizer)
    stops = early_stop is not False and settles(loss, guide)
    dynamic, rebuild = split_args(args, kwargs)
    return FitPlan(
        model=model,
        guide=guide,
        args=args,
        kwargs=kwargs,
        dynamic=dynamic,
        rebuild=rebuild,
        loss=loss,
        optim=optim,
        svi=SVI(model, guide, optim, loss),
        num_steps=num_steps,
        seed=seed,
        chunk_size=chunk_size,
        rule=_stopping_rule(early_stop, num_steps, chunk_size, loss),
        early_stop=stops,
        early_stop_note=_stop_note(early_stop, loss, stops=stops),
        warn_unconverged=early_stop is not False,
        num_starts=num_starts,
        multi_start=multi_start,
        warm_start=warm_start,
        dense_max=dense_max,
        warm_blocked=_warm_blocked(init_params, optim, loss),
        init_params=init_params,
        skip_nonfinite=skip_nonfinite,
        progress=progress,
        callback=callback,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )


def check_continuous(model: Callable, args: tuple, kwargs: dict) -> None:
    """Name discrete latent sites before NumPyro's enumeration machinery gets confusing."""

    def read(tr: dict) -> list[str]:
        return [
            f"'{n}' ({type(s['fn']).__name__})"
            for n, s in tr.items()
            if s["type"] == "sample"
            and not s["is_observed"]
            and getattr(s["fn"], "support", None) is not None
            and s["fn"].support.is_discrete
        ]

    try:
        discrete = read_trace(model, args, kwargs, read)
    except Exception:  # noqa: BLE001 - e.g. improper sites that cannot be sampled; numpyro checks
        return
    if discrete:
        raise ValueError(
            f"Model site {', '.join(discrete)} is a discrete latent variable; the guides fitted "
            "by probapprox.fit need continuous latent sites. Marginalise it out in the model "
            "(e.g. sum over its values with a log-sum-exp in numpyro.factor) or observe it."
        )


def _as_optim(optimizer: Any) -> Any:
    if isinstance(optimizer, optax.GradientTransformation):
        return optax_to_numpyro(optimizer)
    if isinstance(optimizer, _NumPyroOptim) or hasattr(optimizer, "eval_and_update"):
        return optimizer
    raise TypeError(
        "probapprox.fit(optimizer=...) expects a numpyro.optim optimizer or an optax "
        f"GradientTransformation; got {type(optimizer).__name__}."
    )


def _stopping_rule(early_stop: Any, num_steps: int, chunk_size: int, loss: Any) -> ConvergenceRule:
    """The stopping rule, never firing before the loss's own schedules have ended."""
    if isinstance(early_stop, ConvergenceRule):
        rule = early_stop
    elif isinstance(early_stop, bool):
        rule = ConvergenceRule()
    else:
        raise TypeError(
            "probapprox.fit(early_stop=...) expects True, False or a "
            f"probapprox.ConvergenceRule; got {early_stop!r}."
        )
    schedule = schedule_steps(loss)
    if schedule > rule.min_steps:
        rule = replace(rule, min_steps=schedule)
    return rule.for_budget(num_steps, chunk_size)


def _stop_note(early_stop: Any, loss: Any, *, stops: bool) -> str:
    """``info["early_stop"]``: whether the fit could stop early, and why not."""
    if stops:
        return "on"
    if early_stop is False:
        return "off"
    return (
        f"off: {type(loss).__name__}'s gradient noise does not vanish at the optimum, so the fit "
        "runs to num_steps for the decaying step size to settle it (converged_at is reported)"
    )


def _warm_blocked(init_params: dict | None, optim: Any, loss: Any) -> str:
    """Why no start can be whitened at the MAP ("" if nothing stands in the way)."""
    if init_params is not None:
        return "init_params were given"
    if hook(optim, "paired_loss") is not None:
        return f"the optimizer {type(optim).__name__} updates the guide's parameters itself"
    if hook(loss, "anneal_steps"):
        return "the loss anneals the likelihood, which wants a wide start, not the MAP"
    return ""
