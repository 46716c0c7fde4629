"""``fit``: run SVI for any NumPyro guide in jitted ``lax.scan`` chunks."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro import handlers
from numpyro.infer import SVI
from numpyro.optim import _NumPyroOptim, optax_to_numpyro

from probapprox._checks import check_int
from probapprox.guides import make_guide
from probapprox.infer._args import split_args
from probapprox.infer._checkpoint import read_checkpoint, write_checkpoint
from probapprox.infer._defaults import default_loss, default_optimizer
from probapprox.infer._nonfinite import explain_nonfinite
from probapprox.infer._progress import Progress
from probapprox.infer._result import FitResult
from probapprox.infer._step import init_carry, make_chunk_fn

__all__ = ["fit"]

_MAX_CHUNK = 1000
_TARGET_UPDATES = 50
_OWNER = "probapprox.fit"


def _check_continuous(model: Callable, args: tuple, kwargs: dict) -> None:
    """Name discrete latent sites before NumPyro's enumeration machinery gets confusing."""
    try:
        tr = handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs)
    except Exception:  # noqa: BLE001 - e.g. improper sites that cannot be sampled; numpyro checks
        return
    discrete = [
        f"'{n}' ({type(s['fn']).__name__})"
        for n, s in tr.items()
        if s["type"] == "sample"
        and not s["is_observed"]
        and getattr(s["fn"], "support", None) is not None
        and s["fn"].support.is_discrete
    ]
    if discrete:
        raise ValueError(
            f"Model site {', '.join(discrete)} is a discrete latent variable; the guides fitted "
            "by probapprox.fit need continuous latent sites. Marginalise it out in the model "
            "(e.g. sum over its values with a log-sum-exp in numpyro.factor) or observe it."
        )


def _as_optimizer(optimizer: Any) -> Any:
    if isinstance(optimizer, optax.GradientTransformation):
        return optax_to_numpyro(optimizer)
    if isinstance(optimizer, _NumPyroOptim) or hasattr(optimizer, "eval_and_update"):
        return optimizer
    raise TypeError(
        "probapprox.fit(optimizer=...) expects a numpyro.optim optimizer or an optax "
        f"GradientTransformation; got {type(optimizer).__name__}."
    )


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
    **kwargs: Any,
) -> FitResult:
    """Fit ``guide`` to the posterior of ``model`` by stochastic variational inference.

    Minimises the negative ELBO ``E_q[log q(θ) − log p(x, θ)]`` with the guide's own
    estimator and optimiser where it defines them (``default_loss(num_steps)``,
    ``default_optimizer(num_steps)``), else :class:`~probapprox.estimators.PathELBO` for
    NumPyro's Gaussian autoguides (``Trace_ELBO`` for other guides) and Adam with a
    cosine-decayed step size. An optimiser with a ``paired_loss()`` (e.g.
    :class:`~probapprox.optim.FBGVI`) brings its own loss. Steps run inside jitted
    ``lax.scan`` chunks; the progress bar, callback and checkpoints act between chunks.
    A guide with a ``post_fit(params, *args, **kwargs) -> params`` method (e.g.
    :class:`~probapprox.guides.AutoLaplace`) gets to finish its parameters after the loop.

    Args:
        model: a NumPyro model.
        guide: a NumPyro guide for it (e.g. an ``AutoGuide``), or a registered guide name
            such as ``"AutoMultivariateNormal"``.
        *args: positional arguments of the model (and guide).
        num_steps: number of optimisation steps.
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
        init_params: initial values for some guide parameters (constrained).
        callback: called as ``callback(step, chunk_losses)`` after every chunk.
        **kwargs: keyword arguments of the model (and guide).

    Returns:
        A :class:`FitResult`.

    Raises:
        probapprox.NonFiniteError: the loss or a gradient became non-finite (names the step,
            the model or guide site and the parameters).

    """
    num_steps = check_int(_OWNER, "num_steps", num_steps)
    seed = check_int(_OWNER, "seed", seed, minimum=0)
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

    _check_continuous(model, args, kwargs)
    if loss is None and callable(getattr(optimizer, "paired_loss", None)):
        loss = optimizer.paired_loss()  # e.g. FBGVI, whose update lives in its loss
    loss = default_loss(guide, num_steps) if loss is None else loss
    optim = default_optimizer(guide, num_steps) if optimizer is None else _as_optimizer(optimizer)
    svi = SVI(model, guide, optim, loss)
    state = svi.init(jax.random.PRNGKey(seed), *args, init_params=init_params, **kwargs)
    carry = init_carry(svi, state)

    header = {"seed": seed, "num_steps": num_steps, "guide": type(guide).__name__}
    losses: list[np.ndarray] = []
    done = 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        carry, prev = read_checkpoint(checkpoint, carry, header)
        losses.append(prev)
        done = len(prev)

    dynamic, rebuild = split_args(args, kwargs)
    chunk = make_chunk_fn(svi, rebuild, chunk_size, skip_nonfinite=skip_nonfinite)
    bar = Progress(num_steps, done, enabled=progress)
    stop = jnp.int32(num_steps)
    last_written = done
    t0 = time.perf_counter()
    try:
        while done < num_steps:
            new, chunk_losses = chunk(carry, jnp.int32(done), stop, dynamic)
            n = min(chunk_size, num_steps - done)
            chunk_losses = np.asarray(chunk_losses)[:n]
            failed_at = int(new.failed_at)
            if failed_at >= 0:
                losses.append(chunk_losses[: failed_at - done + 1])
                raise explain_nonfinite(
                    svi, new.svi_state, failed_at, np.asarray(new.bad_leaves), args, kwargs
                )
            carry = new
            losses.append(chunk_losses)
            done += n
            bar.update(chunk_losses)
            if checkpoint is not None and (
                done == num_steps
                or (checkpoint_every is not None and done - last_written >= checkpoint_every)
            ):
                write_checkpoint(checkpoint, carry, np.concatenate(losses), header)
                last_written = done
            if callback is not None:
                callback(done, chunk_losses)
    except KeyboardInterrupt:
        if checkpoint is not None and done > last_written:
            write_checkpoint(checkpoint, carry, np.concatenate(losses)[:done], header)
        raise
    finally:
        bar.close()
    params = svi.get_params(carry.svi_state)
    post_fit = getattr(guide, "post_fit", None)
    if callable(post_fit):  # e.g. AutoLaplace adds its curvature factors at the MAP
        params = post_fit(params, *args, **kwargs)
    seconds = time.perf_counter() - t0

    return FitResult(
        model=model,
        guide=guide,
        params=params,
        losses=np.concatenate(losses) if losses else np.zeros(0),
        args=args,
        kwargs=kwargs,
        seed=seed,
        num_skipped=int(carry.num_skipped),
        seconds=seconds,
        state=carry.svi_state,
        info={
            "guide": type(guide).__name__,
            "loss": type(loss).__name__,
            "optimizer": type(optim).__name__,
            "num_steps": num_steps,
        },
    )
