r"""Row-sparse ("lazy") Adam for parameters of which a step reads only a few rows.

For a parameter array P with rows :math:`P_r` and a step that touches the rows R with
gradients :math:`g_r` (:math:`r \in R`), the moments and values of those rows only are updated,

.. math::
    m_r \leftarrow \beta_1 m_r + (1-\beta_1) g_r, \quad
    v_r \leftarrow \beta_2 v_r + (1-\beta_2) g_r^2, \quad
    P_r \leftarrow P_r - \eta\, \frac{m_r / (1-\beta_1^t)}{\sqrt{v_r/(1-\beta_2^t)} + \epsilon},

and untouched rows keep their values and moments (t is the global step count). With every
row in every step this is Adam exactly. The work is O(|R|) per step instead of O(n), which
the DKLGP minibatch ELBO needs for a per-step cost independent of n. Scatters use
``mode="drop"`` so the padding index ``n`` of :func:`probapprox.families.sic_local.touched_rows`
is ignored; inside a jitted loop with the state as a carry (or donated) they run in place.

Reference:
    Kingma & Ba (2015), "Adam: a method for stochastic optimization", ICLR; the lazy
    (row-sparse) variant as in TensorFlow Addons' ``LazyAdam``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["RowAdamState", "row_adam_init", "row_adam_update"]

_B1, _B2, _EPS = 0.9, 0.999, 1e-8


class RowAdamState(NamedTuple):
    """First and second moments with the structure of the parameters."""

    mu: Any
    nu: Any


def row_adam_init(params: Any) -> RowAdamState:
    """Zero moments shaped like ``params`` (a pytree of arrays with a leading row axis)."""
    return RowAdamState(
        jax.tree_util.tree_map(jnp.zeros_like, params),
        jax.tree_util.tree_map(jnp.zeros_like, params),
    )


def row_adam_update(
    params: Any,
    state: RowAdamState,
    rows: jax.Array,
    grads: Any,
    step: jax.Array,
    learning_rate: jax.Array | float,
) -> tuple[Any, RowAdamState]:
    """Update the rows ``rows`` of every leaf of ``params`` with their gradients.

    Args:
        params: pytree of ``(n, ...)`` arrays.
        state: moments from :func:`row_adam_init` or an earlier update.
        rows: ``(k,)`` unique row indices; entries ``>= n`` are ignored.
        grads: pytree of ``(k, ...)`` gradients of the rows ``rows``.
        step: the 1-based global step count t (for the bias corrections).
        learning_rate: η.

    Returns:
        ``(params, state)`` with only the rows ``rows`` changed.

    """
    t = jnp.asarray(step, dtype=jnp.result_type(float))
    c1 = 1.0 - _B1**t
    c2 = 1.0 - _B2**t

    def leaf(p: jax.Array, m: jax.Array, v: jax.Array, g: jax.Array) -> tuple[jax.Array, ...]:
        m_r = _B1 * m.at[rows].get(mode="fill", fill_value=0) + (1.0 - _B1) * g
        v_r = _B2 * v.at[rows].get(mode="fill", fill_value=0) + (1.0 - _B2) * g**2
        upd = learning_rate * (m_r / c1) / (jnp.sqrt(v_r / c2) + _EPS)
        return (
            p.at[rows].add(-upd.astype(p.dtype), mode="drop"),
            m.at[rows].set(m_r, mode="drop"),
            v.at[rows].set(v_r, mode="drop"),
        )

    out = jax.tree_util.tree_map(leaf, params, state.mu, state.nu, grads)
    pick = [jax.tree_util.tree_map(lambda o, i=i: o[i], out, is_leaf=_is_triple) for i in range(3)]
    return pick[0], RowAdamState(pick[1], pick[2])


def _is_triple(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) == 3 and all(isinstance(e, jax.Array) for e in x)
