"""The guarded SVI step and the ``lax.scan`` chunk that runs many of them.

One step mirrors :meth:`numpyro.infer.SVI.update` (same RNG splitting, same
loss closure, same optimiser update) but also checks the loss and every
gradient leaf for non-finite values. A failing step is either skipped
(``skip_nonfinite=True``: parameters and optimiser state are kept, the RNG
advances) or freezes the state before the step and records which step and
which parameters failed, so that the host can stop and explain. Without
``skip_nonfinite`` the loop first runs the fast chunk, which checks only the loss
per step and the parameters at its end, and reruns a failing chunk guarded
(:func:`make_chunk_fn`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, random
from numpyro.infer.svi import SVIState

from probapprox.estimators import STEP_KWARG
from probapprox.infer._hooks import hook
from probapprox.infer._plan import FitPlan
from probapprox.infer._whiten import Whitener, loss_guide
from probapprox.linalg import finite_step

__all__ = [
    "Carry",
    "SKIP_LOG_SIZE",
    "SVIView",
    "constrain_with",
    "loss_view",
    "make_loss_fn",
    "make_chunk_fn",
    "init_carry",
]

SKIP_LOG_SIZE = 8


class Carry(NamedTuple):
    """Loop state carried through the scan.

    Attributes:
        svi_state: NumPyro's ``SVIState`` (optimiser state, mutable state, RNG key).
        failed_at: global index of the first failing step, or -1.
        bad_leaves: per gradient leaf, whether it was non-finite at ``failed_at``.
        num_skipped: number of steps skipped because of non-finite values.
        skip_log: with ``skip_nonfinite``, the first :data:`SKIP_LOG_SIZE` skipped steps
            (``step``, pre-step ``rng_key`` and ``params``), replayed after the fit to name
            the sites that overflowed; else ``None``.

    """

    svi_state: SVIState
    failed_at: jax.Array
    bad_leaves: jax.Array
    num_skipped: jax.Array
    skip_log: Any = None


def make_loss_fn(
    svi: Any,
    rng_key: jax.Array,
    args: tuple,
    kwargs: dict,
    mutable_state: Any,
    step: jax.Array | None = None,
    constrain: Callable[[Any], Any] | None = None,
    guide: Any = None,
) -> Callable[[Any], tuple[jax.Array, Any]]:
    """Loss of unconstrained params, with aux = new mutable state (as ``SVI.update``).

    A loss with ``uses_step`` (scheduled estimators) also gets the step number as the
    ``probapprox_step`` keyword. ``constrain`` maps the optimiser's parameters to the guide's
    (default ``svi.constrain_fn``; a whitened fit adds its map to model coordinates) and
    ``guide`` is the guide the loss runs (default ``svi.guide``; see :func:`loss_view`).
    """
    if step is not None and hook(svi.loss, "uses_step"):
        kwargs = {**kwargs, STEP_KWARG: step}
    constrain = svi.constrain_fn if constrain is None else constrain
    guide = svi.guide if guide is None else guide

    def loss_fn(params: Any) -> tuple[jax.Array, Any]:
        params = constrain(params)
        if jax.tree.leaves(mutable_state):
            params.update(lax.stop_gradient(mutable_state))
            out = svi.loss.loss_with_mutable_state(
                rng_key, params, svi.model, guide, *args, **kwargs, **svi.static_kwargs
            )
            return out["loss"], out["mutable_state"]
        loss = svi.loss.loss(
            rng_key, params, svi.model, guide, *args, **kwargs, **svi.static_kwargs
        )
        return loss, None

    return loss_fn


def init_carry(svi: Any, svi_state: SVIState, *, skip_log: bool = False) -> Carry:
    """Fresh loop state around an ``SVIState`` (with an empty skip log if asked)."""
    params = svi.optim.get_params(svi_state.optim_state)
    num_leaves = len(jax.tree.leaves(params))
    log = None
    if skip_log:
        size = SKIP_LOG_SIZE
        log = {
            "step": jnp.full((size,), -1, dtype=jnp.int32),
            "rng_key": jnp.zeros((size, *jnp.shape(svi_state.rng_key)), svi_state.rng_key.dtype),
            "params": jax.tree.map(lambda x: jnp.zeros((size, *jnp.shape(x)), x.dtype), params),
        }
    return Carry(
        svi_state=svi_state,
        failed_at=jnp.array(-1, dtype=jnp.int32),
        bad_leaves=jnp.zeros(max(num_leaves, 1), dtype=bool),
        num_skipped=jnp.array(0, dtype=jnp.int32),
        skip_log=log,
    )


def _record_skip(log: Any, skipped: jax.Array, index: jax.Array, entry: dict) -> Any:
    """Write ``entry`` at ``index`` of the skip log if ``skipped`` and there is room."""
    write = skipped & (index < SKIP_LOG_SIZE)
    slot = jnp.minimum(index, SKIP_LOG_SIZE - 1)
    return jax.tree.map(lambda buf, x: buf.at[slot].set(jnp.where(write, x, buf[slot])), log, entry)


def _select(pred: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _check_after(carry: Carry, start: jax.Array, optim: Any) -> Carry:
    """The fast chunk's end check: a non-finite parameter sets ``failed_at`` (to ``start``)."""
    params = optim.get_params(carry.svi_state.optim_state)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))
    failed_at = jnp.where(~finite & (carry.failed_at < 0), start, carry.failed_at)
    return carry._replace(failed_at=failed_at)


def constrain_with(svi: Any, to_model: Callable[..., Any] | None, extra: Any) -> Callable:
    """``params_u -> to_model(svi.constrain_fn(params_u), *extra)`` (or plain constrain)."""
    if to_model is None:
        return svi.constrain_fn
    return lambda params: to_model(svi.constrain_fn(params), *extra)


def loss_view(svi: Any, whitener: Whitener | None, extra: Any) -> tuple[Callable, Any]:
    """``(constrain, guide)`` the step's loss runs with: the same ELBO, computed cheaply.

    With a whitener that names the guide's latent site, the loss keeps the whitened
    parameters and maps the latent draws (:func:`~._whiten.loss_guide`); else it maps the
    parameters (``to_model``) and runs ``svi.guide``.
    """
    if whitener is not None and whitener.latent_site is not None:
        return svi.constrain_fn, loss_guide(svi.guide, whitener, *extra)
    to_model = None if whitener is None else whitener.to_model
    return constrain_with(svi, to_model, extra), svi.guide


class SVIView:
    """The parts of an ``SVI`` the diagnosis of non-finite steps uses, with another constrain."""

    def __init__(self, svi: Any, constrain_fn: Callable) -> None:
        self.model, self.guide, self.loss, self.optim = svi.model, svi.guide, svi.loss, svi.optim
        self.static_kwargs, self.constrain_fn = svi.static_kwargs, constrain_fn


def make_chunk_fn(
    plan: FitPlan, whitener: Whitener | None, *, guarded: bool = True
) -> Callable[..., tuple[Carry, jax.Array]]:
    """Build ``chunk(carry, start, stop, dynamic_args, extra) -> (carry, losses)``, jitted.

    Steps ``start .. start + chunk_size - 1`` are scanned; those at or past
    ``stop`` are no-ops (so every chunk has the same shape and compiles once).
    ``whitener`` (with ``extra = (shift, factor)``) relates the optimiser's (whitened)
    parameters to the guide's (:func:`loss_view`);
    for a ``batched`` plan the carry and ``extra`` have a leading axis of independent runs
    (multi-start), vectorised with ``vmap``.

    ``guarded=False`` builds the fast chunk, for runs none of which has failed: a
    ``fori_loop`` over exactly ``start .. stop - 1`` with no per-step check or select (the
    loop state updates in place, as in a plain ``scan`` of ``SVI.update``); the first
    non-finite loss, or a non-finite parameter at the end (then ``start``), sets
    ``failed_at``. The caller then runs the chunk again, guarded, from the same state, to find
    the failing step and freeze before it. Measured on a MAF step (4 layers, MADE (32, 32),
    8 draws): the guarded chunk takes 0.14-0.16 ms at d = 10 against 0.10 for NumPyro's
    ``svi.update`` in a scan; its per-step check makes every update wait for every gradient
    leaf, and its selects copy the loop state.
    """
    if not guarded and plan.skip_nonfinite:
        raise ValueError("make_chunk_fn: skip_nonfinite needs the guarded chunk.")
    svi, rebuild, chunk_size = plan.svi, plan.rebuild, plan.chunk_size
    skip_nonfinite = plan.skip_nonfinite
    optim = svi.optim

    def gradient(state: SVIState, i: jax.Array, args: tuple, kwargs: dict, view: tuple) -> tuple:
        """``(next rng_key, params, loss, new mutable state, gradient)`` of step ``i``."""
        rng_key, rng_step = random.split(state.rng_key)
        loss_fn = make_loss_fn(svi, rng_step, args, kwargs, state.mutable_state, i, *view)
        params = optim.get_params(state.optim_state)
        (loss, mutable), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        return rng_key, params, loss, mutable, grads

    def chunk(
        carry: Carry, start: jax.Array, stop: jax.Array, dynamic: list[Any], extra: Any
    ) -> Any:
        args, kwargs = rebuild(dynamic)
        view = loss_view(svi, whitener, extra)

        def step(carry: Carry, i: jax.Array) -> tuple[Carry, jax.Array]:
            state = carry.svi_state
            active = (i < stop) & (carry.failed_at < 0)
            rng_key, params, loss, mutable, grads = gradient(state, i, args, kwargs, view)
            ok, leaf_ok = finite_step(loss, grads)
            apply = active & ok
            # a select, not lax.cond: on CPU a conditional around the update copies the whole
            # optimiser state every step (measured: 0.17 vs 0.11 ms per step of a small MAF)
            new_optim = _select(apply, optim.update(grads, state.optim_state, value=loss),
                                state.optim_state)  # fmt: skip
            advance = active & (ok | skip_nonfinite)
            if mutable is not None:
                mutable = _select(apply, mutable, state.mutable_state)
            new_state = SVIState(
                new_optim,
                mutable,
                jnp.where(advance, rng_key, state.rng_key),
            )
            fail_now = active & ~ok & (not skip_nonfinite)
            skipped = active & ~ok & skip_nonfinite
            log = carry.skip_log
            if log is not None:
                entry = {"step": i, "rng_key": state.rng_key, "params": params}
                log = _record_skip(log, skipped, carry.num_skipped, entry)
            carry = Carry(
                svi_state=new_state,
                failed_at=jnp.where(fail_now, i, carry.failed_at),
                bad_leaves=jnp.where(fail_now, ~leaf_ok, carry.bad_leaves),
                num_skipped=carry.num_skipped + skipped.astype(jnp.int32),
                skip_log=log,
            )
            return carry, jnp.where(active, loss, jnp.nan)

        steps = start + jnp.arange(chunk_size, dtype=jnp.int32)
        return lax.scan(step, carry, steps)

    def fast_chunk(
        carry: Carry, start: jax.Array, stop: jax.Array, dynamic: list[Any], extra: Any
    ) -> Any:
        args, kwargs = rebuild(dynamic)
        view = loss_view(svi, whitener, extra)

        def body(i: jax.Array, c: tuple) -> tuple:
            state, losses, first_bad = c
            rng_key, _, loss, mutable, grads = gradient(state, i, args, kwargs, view)
            new = SVIState(optim.update(grads, state.optim_state, value=loss), mutable, rng_key)
            bad = ~jnp.isfinite(loss) & (first_bad < 0)
            losses = losses.at[i - start].set(loss.astype(losses.dtype))
            return new, losses, jnp.where(bad, i, first_bad)

        losses = jnp.full((chunk_size,), jnp.nan, dtype=jnp.result_type(float))
        init = (carry.svi_state, losses, jnp.array(-1, jnp.int32))
        state, losses, first_bad = lax.fori_loop(start, stop, body, init)
        failed = jnp.where((first_bad >= 0) & (carry.failed_at < 0), first_bad, carry.failed_at)
        carry = _check_after(carry._replace(svi_state=state, failed_at=failed), start, optim)
        return carry, losses

    if not guarded:
        chunk = fast_chunk  # noqa: F811 - the same signature, no per-step guard
    if plan.batched:
        return jax.jit(jax.vmap(chunk, in_axes=(0, None, None, None, 0)))
    return jax.jit(chunk)
