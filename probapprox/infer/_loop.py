"""The host loop of ``pa.fit``: jitted chunks, progress, checkpoints and the stopping rule.

Between chunks the host records the losses, updates the progress bar, writes checkpoints and
asks the :class:`~._converge.ConvergenceRule` whether the loss has settled. The rule is
evaluated only at chunk boundaries and only on the loss trace, so a fit resumed from a
checkpoint stops exactly where the uninterrupted fit stopped. With several starts the losses
have one column per start; the loop stops when every start that has not failed has converged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from probapprox.infer._checkpoint import write_checkpoint
from probapprox.infer._converge import ConvergenceRule
from probapprox.infer._progress import Progress

__all__ = ["LoopResult", "run_loop", "converged_steps"]


class LoopResult(NamedTuple):
    """Final loop state.

    Attributes:
        carry: the loop state.
        losses: ``(steps,)`` or ``(steps, K)``.
        converged_at: per start, the first boundary at which the rule fired, or ``None``.

    """

    carry: Any
    losses: np.ndarray
    converged_at: list[int | None]


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


def run_loop(
    chunk: Callable[..., Any],
    carry: Any,
    extra: Any,
    dynamic: list,
    *,
    num_steps: int,
    chunk_size: int,
    losses: list[np.ndarray],
    rule: ConvergenceRule,
    early_stop: bool,
    progress: bool,
    checkpoint: str | os.PathLike | None,
    checkpoint_every: int | None,
    header: dict,
    callback: Callable[[int, np.ndarray], None] | None,
    on_failure: Callable[[Any, np.ndarray], None],
) -> LoopResult:
    """Run chunks until ``num_steps`` or, with ``early_stop``, until the rule fires.

    With ``early_stop`` a chunk never runs past the rule's next check point (its remaining
    steps are no-ops), so the check points, and hence the stopping step, are the same for
    every ``chunk_size`` and for a resumed fit.
    """
    done = sum(len(x) for x in losses)
    batched = bool(np.ndim(np.asarray(carry.failed_at)))
    width = int(np.shape(carry.failed_at)[0]) if batched else 1
    every = int(rule.check_every or num_steps)
    alive = np.asarray(carry.failed_at).reshape(-1) < 0
    history = np.concatenate(losses) if losses else np.zeros((0, width)[: 1 + batched])
    conv = converged_steps(rule, history, rule.checkpoints(done, num_steps), alive)
    bar = Progress(num_steps, done, enabled=progress)
    last_written = done

    def settled() -> bool:
        return early_stop and all(c is not None for c, a in zip(conv, alive, strict=True) if a)

    try:
        while done < num_steps and not (done and settled()):
            target = min(num_steps, (done // every + 1) * every) if early_stop else num_steps
            n = min(chunk_size, target - done)
            new, chunk_losses = chunk(carry, jnp.int32(done), jnp.int32(done + n), dynamic, extra)
            chunk_losses = np.asarray(chunk_losses)
            chunk_losses = (chunk_losses.T if batched else chunk_losses)[:n]
            failed = np.asarray(new.failed_at).reshape(-1)
            if not batched and failed[0] >= 0:
                losses.append(chunk_losses[: failed[0] - done + 1])
                on_failure(new, failed)
            if batched and np.all(failed >= 0):
                losses.append(chunk_losses)
                on_failure(new, failed)
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
            if callback is not None:
                callback(done, chunk_losses)
    except KeyboardInterrupt:
        if checkpoint is not None and done > last_written:
            write_checkpoint(checkpoint, (carry, extra), np.concatenate(losses)[:done], header)
        raise
    finally:
        bar.close()
    if not early_stop:
        conv = converged_steps(rule, history, rule.checkpoints(done, num_steps), alive)
    return LoopResult(carry, history, conv)
