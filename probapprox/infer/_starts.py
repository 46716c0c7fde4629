"""Initial loop state of a fit: plain, warm-started and whitened, and/or several starts.

* Plain: NumPyro's ``SVI.init`` (the guide's own initialisation), exactly as ``SVI.run``.
* Warm start (default, for the guides :func:`~._whiten.whitener_for` supports): the guide is
  set up, the MAP searches of :mod:`._candidates` run, and the optimiser starts from the guide
  re-centred at the kept point with the Laplace scale, in whitened coordinates. If the Laplace
  Gaussian is worse than the guide's own start, the plain start is used and ``info`` says why.
* ``K > 1`` starts: start 0 as above, the others from prior draws (see :mod:`._candidates`),
  each with its own whitening; a start whose warm start is rejected (or every start, with
  ``warm_start=False``) runs in model coordinates from its own point. The loop state gets a
  leading axis of length ``K`` and runs under ``vmap``. Guides that cannot be re-centred are
  set up again per start with a different seed (their ``init_loc_fn`` decides how dispersed
  the starts are).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro import handlers
from numpyro.infer.svi import SVIState

from probapprox.infer._candidates import MAX_DIM, run_searches, search_points
from probapprox.infer._flat import flat_latent
from probapprox.infer._step import Carry, init_carry
from probapprox.infer._whiten import Whitener, whitener_for

__all__ = ["Starts", "prepare_starts"]


class Starts(NamedTuple):
    """Initial loop state.

    Attributes:
        carry: the loop state (leading axis ``K`` when ``batched``).
        extra: ``(shift, factor)`` of the whitening (batched likewise), or ``()``.
        to_model: the whitener's parameter map, or ``None`` (plain fit).
        batched: whether there are several starts.
        info: what the warm start did, for ``FitResult.info``.

    """

    carry: Carry
    extra: tuple
    to_model: Callable[..., Any] | None
    batched: bool
    info: dict[str, Any]


def _blocked(svi: Any, init_params: dict | None) -> str:
    if init_params is not None:
        return "init_params were given"
    if callable(getattr(svi.optim, "paired_loss", None)):
        return f"the optimizer {type(svi.optim).__name__} updates the guide's parameters itself"
    if getattr(svi.loss, "anneal_steps", None):
        return "the loss anneals the likelihood, which wants a wide start, not the MAP"
    return ""


def _unconstrainer(svi: Any) -> Callable[[dict], dict] | None:
    fn = svi.constrain_fn
    if isinstance(fn, functools.partial) and fn.args:
        return functools.partial(fn.func, fn.args[0], invert=True)
    return None


def _stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _batched_carry(svi: Any, states: list[SVIState], *, skip_log: bool) -> Carry:
    return _stack([init_carry(svi, s, skip_log=skip_log) for s in states])


def _per_seed_states(
    svi: Any, guide: Any, key: jax.Array, k: int, args: tuple, kwargs: dict, init_params: Any
) -> list[SVIState]:
    states = []
    for i in range(k):
        if i and hasattr(guide, "prototype_trace"):
            guide.prototype_trace = None  # set up again: its init_loc_fn draws a new start
        k_i = random.fold_in(key, i) if i else key
        states.append(svi.init(k_i, *args, init_params=init_params, **kwargs))
    return states


def _init_scale(guide: Any) -> float:
    for attr in ("_init_scale", "init_scale"):
        value = getattr(guide, attr, None)
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return 0.1


def prepare_starts(
    svi: Any,
    model: Callable,
    guide: Any,
    args: tuple,
    kwargs: dict,
    dynamic: list,
    rebuild: Callable,
    *,
    seed: int,
    num_starts: int,
    warm_start: bool,
    dense_max: int,
    init_params: dict | None,
    skip_log: bool,
) -> Starts:
    """Build the initial loop state (see the module docstring)."""

    def single(state: SVIState) -> Carry:
        return init_carry(svi, state, skip_log=skip_log)

    key = random.PRNGKey(seed)
    k = num_starts
    whitener: Whitener | None = None
    why = "warm_start=False"
    blocked = _blocked(svi, init_params)
    if (warm_start or k > 1) and not blocked:
        guide_seed = random.split(key, 3)[2]  # the seed svi.init gives the guide
        handlers.trace(handlers.seed(guide, guide_seed)).get_trace(
            *args, **kwargs, **svi.static_kwargs
        )
        flat = flat_latent(guide)
        whitener, reason = whitener_for(guide, flat, dense_max=dense_max)
        if whitener is not None and warm_start and flat.dim > MAX_DIM:
            whitener, reason = None, f"the latent dimension {flat.dim} exceeds {MAX_DIM}"
        why = reason if whitener is None else why
    info: dict[str, Any] = {"warm_start": f"not applied: {blocked or why}"} if warm_start else {}
    if whitener is None:
        if k == 1:
            state = svi.init(key, *args, init_params=init_params, **kwargs)
            return Starts(single(state), (), None, batched=False, info=info)
        carry = _batched_carry(
            svi, _per_seed_states(svi, guide, key, k, args, kwargs, init_params), skip_log=skip_log
        )
        return Starts(carry, (), None, batched=True, info=info)

    points, owner = search_points(
        model, flat, args, kwargs, seed, k, warm=warm_start, dense_max=dense_max
    )
    own = jnp.asarray(
        points[[int(np.flatnonzero(owner == i)[0]) for i in range(k)]], flat.init.dtype
    )
    structure = whitener.structure
    dim = flat.dim
    identity = jnp.eye(dim, dtype=own.dtype) if structure == "dense" else jnp.ones(dim, own.dtype)
    accepted = np.zeros(k, dtype=bool)
    shift, factor = own, jnp.broadcast_to(identity, (k, *identity.shape))
    if warm_start:
        ws, info = run_searches(
            model,
            flat,
            dynamic,
            rebuild,
            points,
            owner,
            init_scale=_init_scale(guide),
            structure=structure,
            dense_max=dense_max,
            seed=seed,
        )
        accepted = np.asarray(ws.accepted, dtype=bool)
        mask = jnp.asarray(accepted)
        shift = jnp.where(mask[:, None], jnp.asarray(ws.shift), own)
        expand = (slice(None),) + (None,) * identity.ndim
        factor = jnp.where(mask[expand], jnp.asarray(ws.factor), factor)
    state0 = svi.init(key, *args, **kwargs)
    if k == 1 and not accepted[0]:
        return Starts(single(state0), (), None, batched=False, info=info)
    template = svi.get_params(state0)
    to_u = _unconstrainer(svi)
    states = []
    for i in range(k):
        params = whitener.init(template, unit_scale=bool(accepted[i]))
        if to_u is None:
            state = svi.init(key, *args, init_params=params, **kwargs)
        else:
            u = jax.tree.map(
                lambda x: jax.lax.convert_element_type(x, jnp.result_type(x)), to_u(params)
            )
            state = SVIState(svi.optim.init(u), state0.mutable_state, state0.rng_key)
        if i:
            state = state._replace(rng_key=random.fold_in(state0.rng_key, i))
        states.append(state)
    if k == 1:
        return Starts(
            single(states[0]), (shift[0], factor[0]), whitener.to_model, batched=False, info=info
        )
    return Starts(
        _batched_carry(svi, states, skip_log=skip_log),
        (shift, factor),
        whitener.to_model,
        batched=True,
        info=info,
    )
