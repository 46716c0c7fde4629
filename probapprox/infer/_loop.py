"""The host loop of ``pa.fit``: jitted chunks, progress, checkpoints and the stopping rule.

Between chunks the host records the losses, updates the progress bar (a tqdm bar with the
chunk's mean loss and its relative change: a noisy ELBO reads better as a smoothed trend than
as single-step values), writes checkpoints, stops with an explanation on a non-finite step and
asks the :class:`~._converge.ConvergenceRule` whether the loss has settled. The rule is
evaluated only at chunk boundaries and only on the loss trace, so a fit resumed from a
checkpoint stops exactly where the uninterrupted fit stopped. With several starts the losses
have one column per start; the loop stops when every start that has not failed has converged.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from probapprox.infer._checkpoint import read_checkpoint, write_checkpoint
from probapprox.infer._converge import ConvergenceRule
from probapprox.infer._mesh import on_mesh, place_state
from probapprox.infer._nonfinite import explain_nonfinite
from probapprox.infer._plan import FitPlan
from probapprox.infer._starts import Starts
from probapprox.infer._step import SVIView, constrain_with, make_chunk_fn

__all__ = ["LoopResult", "run_loop", "converged_steps"]


class LoopResult(NamedTuple):
    """Final loop state.

    Attributes:
        carry: the loop state.
        losses: ``(steps,)`` or ``(steps, K)``.
        converged_at: per start, the first boundary at which the rule fired, or ``None``.
        seconds: wall-clock time of the loop (compilation of the chunk included).
        extra: the whitening ``(shift, factor)`` the loop ran with (from the checkpoint when
            resumed), or ``()``.

    """

    carry: Any
    losses: np.ndarray
    converged_at: list[int | None]
    seconds: float
    extra: Any = ()


class _Progress:
    """Progress bar updated once per chunk, never inside jitted code."""

    def __init__(self, total: int, initial: int, *, enabled: bool) -> None:
        self._bar = tqdm(
            total=total,
            initial=initial,
            disable=not enabled,
            desc="fit",
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )
        self._last: float | None = None

    def update(self, losses: np.ndarray) -> None:
        finite = losses[np.isfinite(losses)]
        if finite.size:
            smooth = float(np.mean(finite))
            postfix = f"loss {smooth:.4g}"
            if self._last is not None and math.isfinite(self._last) and self._last != 0:
                postfix += f" ({100.0 * (smooth - self._last) / abs(self._last):+.2f}%)"
            self._last = smooth
            self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(len(losses))

    def close(self) -> None:
        self._bar.close()


def _columns(losses: np.ndarray) -> np.ndarray:
    return losses[:, None] if losses.ndim == 1 else losses


def _row_mean(x: np.ndarray) -> np.ndarray:
    """Mean of the finite entries of each row (NaN for a row without any), without warnings."""
    ok = np.isfinite(x)
    count = ok.sum(axis=1)
    total = np.where(ok, x, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def converged_steps(
    rule: ConvergenceRule, losses: np.ndarray, points: list[int], alive: np.ndarray
) -> list[int | None]:
    """Per start, the first of ``points`` at which ``rule`` fires (``None`` if never)."""
    cols = _columns(losses)
    out: list[int | None] = []
    for j in range(cols.shape[1]):
        out.append(rule.first_stop(cols[:, j], np.asarray(points)) if alive[j] else None)
    return out


def _header(plan: FitPlan, starts: Starts) -> dict[str, Any]:
    """What a checkpoint must agree on with the fit that resumes it."""
    return {
        "seed": plan.seed,
        "num_steps": plan.num_steps,
        "guide": type(plan.guide).__name__,
        "num_starts": plan.num_starts,
        "whitened": starts.to_model is not None,
    }


def _raise_failure(plan: FitPlan, starts: Starts, new: Any, failed: np.ndarray) -> None:
    """Explain the first failed run's non-finite step in the model's terms, and raise."""
    k = int(np.argmax(failed >= 0))
    extra, state = plan.pick(starts.extra, k), plan.pick(new.svi_state, k)
    view = SVIView(plan.svi, constrain_with(plan.svi, starts.to_model, extra))
    bad = np.asarray(plan.pick(new.bad_leaves, k))
    raise explain_nonfinite(view, state, int(failed[k]), bad, plan.args, plan.kwargs)


def run_loop(plan: FitPlan, starts: Starts) -> LoopResult:
    """Run chunks until ``num_steps`` or, with ``early_stop``, until the rule fires.

    Resumes from ``plan.checkpoint`` when it exists (and ``resume``). With ``early_stop`` a
    chunk never runs past the rule's next check point (its remaining steps are no-ops), so the
    check points, and hence the stopping step, are the same for every ``chunk_size`` and for a
    resumed fit.
    """
    carry, extra, header = starts.carry, starts.extra, _header(plan, starts)
    losses: list[np.ndarray] = []
    checkpoint, checkpoint_every = plan.checkpoint, plan.checkpoint_every
    if checkpoint is not None and plan.resume and Path(checkpoint).exists():
        (carry, extra), prev = read_checkpoint(checkpoint, (carry, extra), header)
        losses.append(prev)
    carry, extra = place_state((carry, extra), plan.mesh, batched=plan.batched)
    starts = starts._replace(carry=carry, extra=extra)
    # without skip_nonfinite the fast chunk runs while every run is alive, and a chunk in
    # which a run fails is run again guarded from the same state (see make_chunk_fn)
    fast = not plan.skip_nonfinite
    chunk = on_mesh(make_chunk_fn(plan, starts.whitener, guarded=not fast), plan.mesh)
    guarded: list[Any] = []  # compiled only when a fast chunk fails
    t0 = time.perf_counter()
    num_steps, chunk_size, rule = plan.num_steps, plan.chunk_size, plan.rule
    early_stop, batched, width = plan.early_stop, plan.batched, plan.num_starts
    done = sum(len(x) for x in losses)
    every = int(rule.check_every or num_steps)
    alive = np.asarray(carry.failed_at).reshape(-1) < 0
    history = np.concatenate(losses) if losses else np.zeros((0, width)[: 1 + batched])
    conv = converged_steps(rule, history, rule.checkpoints(done, num_steps), alive)
    bar = _Progress(num_steps, done, enabled=plan.progress)
    last_written = done

    def settled() -> bool:
        return early_stop and all(c is not None for c, a in zip(conv, alive, strict=True) if a)

    try:
        while done < num_steps and not (done and settled()):
            target = min(num_steps, (done // every + 1) * every) if early_stop else num_steps
            n = min(chunk_size, target - done)
            start, stop = jnp.int32(done), jnp.int32(done + n)
            if not fast:
                new, chunk_losses = chunk(carry, start, stop, plan.dynamic, extra)
            else:
                quick = not guarded and bool(alive.all())
                if quick:
                    new, chunk_losses = chunk(carry, start, stop, plan.dynamic, extra)
                if not quick or np.any(np.asarray(new.failed_at).reshape(-1) >= 0):
                    if not guarded:  # a failure: the guarded chunk from here on
                        guarded.append(on_mesh(make_chunk_fn(plan, starts.whitener), plan.mesh))
                    new, chunk_losses = guarded[0](carry, start, stop, plan.dynamic, extra)
            chunk_losses = np.asarray(chunk_losses)
            chunk_losses = (chunk_losses.T if batched else chunk_losses)[:n]
            failed = np.asarray(new.failed_at).reshape(-1)
            if not batched and failed[0] >= 0:
                losses.append(chunk_losses[: failed[0] - done + 1])
                _raise_failure(plan, starts, new, failed)
            if batched and np.all(failed >= 0):
                losses.append(chunk_losses)
                _raise_failure(plan, starts, new, failed)
            carry = new
            losses.append(chunk_losses)
            done += n
            alive = failed < 0
            bar.update(_row_mean(chunk_losses) if batched else chunk_losses)
            history = np.concatenate(losses)
            if early_stop and (done % every == 0 or done == num_steps):
                cols = _columns(history)
                for j in range(width):
                    if conv[j] is None and alive[j] and rule.converged(cols[:, j]):
                        conv[j] = done
            if checkpoint is not None and (
                done == num_steps
                or settled()
                or (checkpoint_every is not None and done - last_written >= checkpoint_every)
            ):
                write_checkpoint(checkpoint, (carry, extra), history, header)
                last_written = done
            if plan.callback is not None:
                plan.callback(done, chunk_losses)
    except KeyboardInterrupt:
        if checkpoint is not None and done > last_written:
            write_checkpoint(checkpoint, (carry, extra), np.concatenate(losses)[:done], header)
        raise
    finally:
        bar.close()
    if not early_stop:
        conv = converged_steps(rule, history, rule.checkpoints(done, num_steps), alive)
    return LoopResult(carry, history, conv, time.perf_counter() - t0, extra)
