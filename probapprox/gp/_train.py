r"""One jitted epoch of minibatch DKLGP training: row-sparse Adam on q, Adam on θ and φ.

Each step draws the next b columns of a fresh random permutation (uniform without
replacement), evaluates the unbiased estimate :math:`\frac nb\sum_{j\in B}\ell_j` of the
ELBO (:mod:`probapprox.gp._elbo`) on the gathered columns of V it reads
(:mod:`probapprox.families.sic_local`), recomputes the prior columns :math:`U_{:,j}` from the
current kernel (so the gradient reaches the hyperparameters), and updates the touched rows
of (ν, V) with :mod:`probapprox.gp._sparse_adam` and the kernel and likelihood log-parameters
with dense Adam. Work per step is O(b (m³ + a m log a)) (the local solves go through the stored
entries, :func:`probapprox.linalg.solve_columns`), independent of n apart from a; the per-epoch
permutation is O(n log n). A step whose loss or gradient is not finite is skipped and counted
(the caller raises), so no NaN reaches the parameters.

Reference:
    Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), ICML, Alg. 1.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from probapprox.families.sic_gaussian import SICParams
from probapprox.families.sic_local import gather_rows, local_column_terms, touched_rows
from probapprox.gp._mesh import shard_columns
from probapprox.gp._sparse_adam import RowAdamState, row_adam_init, row_adam_update
from probapprox.linalg import columns_for, finite_step

__all__ = ["TrainState", "Setup", "init_state", "run_epochs", "batch_loss"]


class Setup(NamedTuple):
    """Static configuration of the training step (hashable)."""

    kernel_cls: type
    batch_size: int
    nugget: float
    floor: float
    diagonal: bool
    learn: bool


class TrainState(NamedTuple):
    """Everything a step changes; a pytree (checkpointable)."""

    params: SICParams
    adam: RowAdamState
    hyper: dict[str, Any]
    hyper_adam: Any
    step: jax.Array


_HYPER_ADAM = optax.scale_by_adam()


def init_state(params: SICParams, hyper: dict[str, Any]) -> TrainState:
    """Fresh optimiser state around ``params`` and unconstrained hyperparameters ``hyper``."""
    return TrainState(
        params, row_adam_init(params), hyper, _HYPER_ADAM.init(hyper), jnp.zeros((), jnp.int32)
    )


def batch_loss(
    local: SICParams,
    hyper: dict[str, Any],
    lik: Any,
    rowset: Any,
    cols: jax.Array,
    data: tuple[jax.Array, ...],
    mu: jax.Array,
    setup: Setup,
) -> jax.Array:
    r"""Minus the unbiased ELBO estimate :math:`-\frac nb\sum_{j \in B}\ell_j`."""
    X, y, idx, anc = data
    kernel = setup.kernel_cls.from_unconstrained(hyper["kernel"])
    lik = lik.from_unconstrained(hyper["likelihood"])
    if setup.diagonal:
        local = local._replace(offdiag=jnp.zeros_like(local.offdiag))
    u = columns_for(kernel, X, idx, setup.nugget, cols)
    mean, var, kl = local_column_terms(local, rowset, idx, anc, cols, u, mu, setup.floor)
    ell = lik.expected_log_prob(y[cols], mean, var) - kl
    return -(idx.shape[0] / cols.shape[0]) * jnp.sum(ell)


def _step(
    state: TrainState,
    cols: jax.Array,
    lr: jax.Array,
    lik: Any,
    data: tuple[jax.Array, ...],
    mu: jax.Array,
    setup: Setup,
) -> tuple[TrainState, tuple[jax.Array, jax.Array]]:
    anc = data[3]
    rowset = touched_rows(anc, cols)
    local = gather_rows(state.params, rowset.rows)
    value, (g_local, g_hyper) = jax.value_and_grad(batch_loss, argnums=(0, 1))(
        local, state.hyper, lik, rowset, cols, data, mu, setup
    )
    finite, _ = finite_step(value, (g_local, g_hyper))
    # a failed step changes nothing: its rows are dropped from the scatter (O(b a), not O(n m))
    step = state.step + finite.astype(state.step.dtype)
    rows = jnp.where(finite, rowset.rows, anc.shape[0])
    g_local = jax.tree_util.tree_map(lambda g: jnp.where(finite, g, 0.0), g_local)
    params, adam = row_adam_update(state.params, state.adam, rows, g_local, step, lr)
    hyper, hyper_adam = state.hyper, state.hyper_adam
    if setup.learn:
        g_hyper = jax.tree_util.tree_map(lambda g: jnp.where(finite, g, 0.0), g_hyper)
        upd, new_adam = _HYPER_ADAM.update(g_hyper, hyper_adam)
        new_hyper = jax.tree_util.tree_map(lambda p, u: p - lr * u, hyper, upd)
        keep = lambda a, b: jnp.where(finite, a, b)  # noqa: E731
        hyper = jax.tree_util.tree_map(keep, new_hyper, hyper)
        hyper_adam = jax.tree_util.tree_map(keep, new_adam, hyper_adam)
    out = TrainState(params, adam, hyper, hyper_adam, step)
    return out, (value, ~finite)


@partial(jax.jit, static_argnames=("setup",), donate_argnums=(0,))
def run_epochs(
    state: TrainState,
    keys: jax.Array,
    lrs: jax.Array,
    lik: Any,
    data: tuple[jax.Array, ...],
    mu: jax.Array,
    setup: Setup,
) -> tuple[TrainState, jax.Array, jax.Array]:
    """``len(lrs)`` epochs, each a pass over ``n // batch_size`` disjoint random batches.

    Args:
        state: the training state (donated).
        keys: ``(E, 2)`` one PRNG key per epoch (its batch permutation).
        lrs: ``(E,)`` the step size of each epoch.
        lik: the likelihood (its parameters are taken from ``state.hyper``).
        data: ``(X, y, idx, anc)`` in maximin order.
        mu: the prior mean.
        setup: static configuration.

    Returns:
        ``(state, losses (E, steps), skipped (E,))``; a skipped step had a non-finite loss or
        gradient and left the state unchanged.

    """
    n = data[2].shape[0]
    b = setup.batch_size
    steps = n // b

    def epoch(st: TrainState, key_lr: tuple[jax.Array, jax.Array]) -> tuple[TrainState, tuple]:
        key, lr = key_lr
        batches = jax.random.permutation(key, n)[: steps * b].reshape(steps, b)

        def body(s: TrainState, cols: jax.Array) -> tuple[TrainState, tuple]:
            cols = shard_columns(cols.astype(jnp.int32))  # scale hook: columns over "data"
            return _step(s, cols, lr, lik, data, mu, setup)

        st, (losses, bad) = lax.scan(body, st, batches)
        return st, (losses, jnp.sum(bad))

    state, (losses, skipped) = lax.scan(epoch, state, (keys, lrs))
    return state, losses, skipped
