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
from probapprox.infer._flat import FlatLatent, flat_latent
from probapprox.infer._hooks import hook
from probapprox.infer._plan import FitPlan
from probapprox.infer._step import Carry, init_carry
from probapprox.infer._whiten import Whitener, whitener_for

__all__ = ["Starts", "prepare_starts"]


class Starts(NamedTuple):
    """Initial loop state.

    Attributes:
        carry: the loop state (leading axis ``K`` when the plan is ``batched``).
        extra: ``(shift, factor)`` of the whitening (batched likewise), or ``()``.
        whitener: the whitening (its ``to_model`` maps parameters), or ``None`` (no start is
            whitened).
        info: what the warm start did, for ``FitResult.info``.

    """

    carry: Carry
    extra: tuple
    whitener: Whitener | None
    info: dict[str, Any]

    @property
    def to_model(self) -> Callable[..., Any] | None:
        """The whitener's parameter map, or ``None``."""
        return None if self.whitener is None else self.whitener.to_model


def _unconstrainer(svi: Any) -> Callable[[dict], dict] | None:
    fn = svi.constrain_fn
    if isinstance(fn, functools.partial) and fn.args:
        return functools.partial(fn.func, fn.args[0], invert=True)
    return None


def _carry(plan: FitPlan, states: list[SVIState]) -> Carry:
    """The loop state around one ``SVIState`` per start (stacked when ``batched``)."""
    carries = [init_carry(plan.svi, s, skip_log=plan.skip_nonfinite) for s in states]
    if not plan.batched:
        return carries[0]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *carries)


def _own_states(plan: FitPlan, key: jax.Array) -> list[SVIState]:
    """Each start from the guide's own initialisation (set up again per start, new seed)."""
    svi, guide, states = plan.svi, plan.guide, []
    for i in range(plan.num_starts):
        if i and hasattr(guide, "prototype_trace"):
            guide.prototype_trace = None  # set up again: its init_loc_fn draws a new start
        k_i = random.fold_in(key, i) if i else key
        states.append(svi.init(k_i, *plan.args, init_params=plan.init_params, **plan.kwargs))
    return states


def _whitener(plan: FitPlan, key: jax.Array) -> tuple[Whitener | None, FlatLatent | None, str]:
    """Set the guide up as ``svi.init`` will and ask how it is whitened (or why not)."""
    if not (plan.warm_start or plan.batched):
        return None, None, "warm_start=False"
    if plan.warm_blocked:
        return None, None, plan.warm_blocked
    guide_seed = random.split(key, 3)[2]  # the seed svi.init gives the guide
    handlers.trace(handlers.seed(plan.guide, guide_seed)).get_trace(
        *plan.args, **plan.kwargs, **plan.svi.static_kwargs
    )
    flat = flat_latent(plan.guide)
    whitener, reason = whitener_for(plan.guide, flat, dense_max=plan.dense_max)
    if whitener is not None and plan.warm_start and flat.dim > MAX_DIM:
        whitener, reason = None, f"the latent dimension {flat.dim} exceeds {MAX_DIM}"
    return whitener, flat, reason or "warm_start=False"


def prepare_starts(plan: FitPlan) -> Starts:
    """Build the initial loop state (see the module docstring)."""
    svi, args, kwargs, k = plan.svi, plan.args, plan.kwargs, plan.num_starts
    key = random.PRNGKey(plan.seed)
    whitener, flat, why = _whitener(plan, key)
    info: dict[str, Any] = {"warm_start": f"not applied: {why}"} if plan.warm_start else {}
    if whitener is None:
        return Starts(_carry(plan, _own_states(plan, key)), (), None, info)

    model = plan.search_model or plan.model
    lazy = plan.warm_start and k == 1 and flat.dim <= plan.dense_max
    points, owner = search_points(
        model, flat, args, kwargs, plan.seed, k,
        candidates=plan.warm_start and not lazy, dense_max=plan.dense_max,
    )  # fmt: skip

    def draw_candidates() -> np.ndarray:  # start 0's prior candidates, if its search fails
        more, _ = search_points(
            model, flat, args, kwargs, plan.seed, k, candidates=True, dense_max=plan.dense_max
        )
        return more[1:]

    own = jnp.asarray(
        points[[int(np.flatnonzero(owner == i)[0]) for i in range(k)]], flat.init.dtype
    )
    structure = whitener.structure
    dim = flat.dim
    identity = jnp.eye(dim, dtype=own.dtype) if structure == "dense" else jnp.ones(dim, own.dtype)
    accepted = np.zeros(k, dtype=bool)
    shift, factor = own, jnp.broadcast_to(identity, (k, *identity.shape))
    if plan.warm_start:
        ws, info = run_searches(
            model, flat, plan.dynamic, plan.rebuild, points, owner,
            init_scale=hook(plan.guide, "init_scale"), structure=structure,
            dense_max=plan.dense_max, seed=plan.seed,
            candidates=draw_candidates if lazy else None,
        )  # fmt: skip
        accepted = np.asarray(ws.accepted, dtype=bool)
        mask = jnp.asarray(accepted)
        shift = jnp.where(mask[:, None], jnp.asarray(ws.shift), own)
        expand = (slice(None),) + (None,) * identity.ndim
        factor = jnp.where(mask[expand], jnp.asarray(ws.factor), factor)
    state0 = svi.init(key, *args, **kwargs)
    if not plan.batched and not accepted[0]:
        return Starts(_carry(plan, [state0]), (), None, info)
    template = jax.jit(svi.get_params)(state0)  # one program, not one per eager op
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
    extra = (shift, factor) if plan.batched else (shift[0], factor[0])
    return Starts(_carry(plan, states), extra, whitener, info)
