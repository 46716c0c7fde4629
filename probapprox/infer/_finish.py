"""Turn the final loop state into a :class:`FitResult` (model coordinates, best run or stack)."""

from __future__ import annotations

import jax
import numpy as np

from probapprox.infer._hooks import hook
from probapprox.infer._loop import LoopResult
from probapprox.infer._multistart import compare_starts
from probapprox.infer._nonfinite import report_skipped
from probapprox.infer._plan import FitPlan
from probapprox.infer._result import FitResult
from probapprox.infer._starts import Starts
from probapprox.infer._step import SVIView, constrain_with

__all__ = ["finish", "NUM_COMPARE_DRAWS"]

NUM_COMPARE_DRAWS = 1000


def _params(plan: FitPlan, starts: Starts, out: LoopResult, k: int) -> dict:
    """Run ``k``'s parameters in model coordinates, finished by the guide's ``post_fit`` hook."""
    state, extra = plan.pick(out.carry.svi_state, k), plan.pick(out.extra, k)
    params_u = plan.svi.optim.get_params(state.optim_state)
    params = constrain_with(plan.svi, starts.to_model, extra)(params_u)
    post_fit = hook(plan.guide, "post_fit")
    if post_fit is not None:  # e.g. AutoLaplace adds its curvature factors at the MAP
        params = post_fit(params, *plan.args, **plan.kwargs)
    return params


def _report_skips(plan: FitPlan, starts: Starts, out: LoopResult, info: dict) -> None:
    """Name the sites behind skipped steps (``skip_nonfinite=True``), per start."""
    carry = out.carry
    if carry.skip_log is None:
        return
    skipped = np.atleast_1d(np.asarray(carry.num_skipped))
    for k in np.flatnonzero(skipped > 0):
        extra = plan.pick(out.extra, k)
        view = SVIView(plan.svi, constrain_with(plan.svi, starts.to_model, extra))
        log = plan.pick(carry.skip_log, k)
        num = len(out.losses)
        counts = report_skipped(view, log, int(skipped[k]), num, plan.args, plan.kwargs)
        info.setdefault("nonfinite_sites", {}).update(counts)


def finish(plan: FitPlan, starts: Starts, out: LoopResult) -> FitResult:
    """Assemble the result of a single- or multi-start fit."""
    carry = out.carry
    info = {**plan.info(), **starts.info}
    _report_skips(plan, starts, out, info)
    common = {
        "model": plan.model,
        "guide": plan.guide,
        "args": plan.args,
        "kwargs": plan.kwargs,
        "seed": plan.seed,
        "seconds": out.seconds,
        "info": info,
    }
    if not plan.batched:
        at = out.converged_at[0]
        return FitResult(
            params=_params(plan, starts, out, 0),
            losses=out.losses,
            num_skipped=int(carry.num_skipped),
            state=carry.svi_state,
            converged=at is not None,
            converged_at=at,
            **common,
        )
    failed = np.asarray(carry.failed_at) >= 0
    params = [None if failed[k] else _params(plan, starts, out, k) for k in range(plan.num_starts)]
    best, stack, summaries, extra_info = compare_starts(
        plan.model,
        plan.guide,
        plan.args,
        plan.kwargs,
        params,
        failed,
        out.converged_at,
        select=plan.multi_start,
        num_draws=NUM_COMPARE_DRAWS,
        seed=plan.seed + 1,
    )
    info.update(extra_info)
    info["losses_all_starts"] = out.losses
    at = out.converged_at[best]
    return FitResult(
        params=params[best],
        losses=out.losses[:, best],
        num_skipped=int(np.asarray(carry.num_skipped)[best]),
        state=jax.tree.map(lambda x: x[best], carry.svi_state),
        converged=at is not None,
        converged_at=at,
        starts=summaries,
        stack=stack,
        **common,
    )
