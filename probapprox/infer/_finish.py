"""Turn the final loop state into a :class:`FitResult` (model coordinates, best run or stack)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from probapprox.infer._loop import LoopResult
from probapprox.infer._multistart import compare_starts
from probapprox.infer._nonfinite import report_skipped
from probapprox.infer._result import FitResult
from probapprox.infer._step import SVIView, constrain_with

__all__ = ["finish", "NUM_COMPARE_DRAWS"]

NUM_COMPARE_DRAWS = 1000


def _params(
    svi: Any, to_model: Callable | None, state: Any, extra: Any, args: tuple, kwargs: dict
) -> dict:
    """The guide's parameters in model coordinates, finished by ``post_fit`` if it has one."""
    params = constrain_with(svi, to_model, extra)(svi.optim.get_params(state.optim_state))
    post_fit = getattr(svi.guide, "post_fit", None)
    if callable(post_fit):  # e.g. AutoLaplace adds its curvature factors at the MAP
        params = post_fit(params, *args, **kwargs)
    return params


def _report_skips(
    svi: Any,
    to_model: Callable | None,
    carry: Any,
    extra: Any,
    num_steps: int,
    args: tuple,
    kwargs: dict,
    info: dict,
) -> None:
    """Name the sites behind skipped steps (``skip_nonfinite=True``), per start."""
    if carry.skip_log is None:
        return
    skipped = np.atleast_1d(np.asarray(carry.num_skipped))
    for k in np.flatnonzero(skipped > 0):
        pick = (
            (lambda x, k=k: x[k]) if skipped.size > 1 or np.ndim(carry.failed_at) else (lambda x: x)
        )
        view = SVIView(svi, constrain_with(svi, to_model, jax.tree.map(pick, extra)))
        log = jax.tree.map(pick, carry.skip_log)
        counts = report_skipped(view, log, int(skipped[k]), num_steps, args, kwargs)
        info.setdefault("nonfinite_sites", {}).update(counts)


def finish(
    svi: Any,
    model: Callable,
    guide: Any,
    args: tuple,
    kwargs: dict,
    out: LoopResult,
    extra: Any,
    to_model: Callable | None,
    *,
    seed: int,
    info: dict[str, Any],
    seconds: float,
    multi_start: str,
) -> FitResult:
    """Assemble the result of a single- or multi-start fit."""
    carry = out.carry
    _report_skips(svi, to_model, carry, extra, len(out.losses), args, kwargs, info)
    common = {
        "model": model,
        "guide": guide,
        "args": args,
        "kwargs": kwargs,
        "seed": seed,
        "seconds": seconds,
    }
    if np.ndim(np.asarray(carry.failed_at)) == 0:
        at = out.converged_at[0]
        return FitResult(
            params=_params(svi, to_model, carry.svi_state, extra, args, kwargs),
            losses=out.losses,
            num_skipped=int(carry.num_skipped),
            state=carry.svi_state,
            info=info,
            converged=at is not None,
            converged_at=at,
            **common,
        )
    num = int(np.shape(carry.failed_at)[0])
    failed = np.asarray(carry.failed_at) >= 0

    def pick(k: int) -> Callable:
        return lambda x: x[k]

    params = [
        None
        if failed[k]
        else _params(
            svi,
            to_model,
            jax.tree.map(pick(k), carry.svi_state),
            jax.tree.map(pick(k), extra),
            args,
            kwargs,
        )
        for k in range(num)
    ]
    best, stack, summaries, extra_info = compare_starts(
        model,
        guide,
        args,
        kwargs,
        params,
        failed,
        out.converged_at,
        select=multi_start,
        num_draws=NUM_COMPARE_DRAWS,
        seed=seed + 1,
    )
    info.update(extra_info)
    info["losses_all_starts"] = out.losses
    at = out.converged_at[best]
    return FitResult(
        params=params[best],
        losses=out.losses[:, best],
        num_skipped=int(np.asarray(carry.num_skipped)[best]),
        state=jax.tree.map(pick(best), carry.svi_state),
        info=info,
        converged=at is not None,
        converged_at=at,
        starts=summaries,
        stack=stack,
        **common,
    )
