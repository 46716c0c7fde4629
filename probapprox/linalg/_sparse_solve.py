r"""Sparse triangular solves with a local block, O(a m) instead of the dense O(a²)–O(a³).

For an ascending index row ``rows`` (front-padded with -1, e.g. an ancestor set :math:`A_j`)
and the gathered columns ``col_val``, ``col_idx`` (``(a, m)``, pattern ascending with the
diagonal last) of an upper-triangular factor V, :func:`solve_columns` solves
:math:`V_{AA} x = r` by column-oriented back substitution,

.. math::

    x_q = r_q / V_{qq}, \qquad r_p \leftarrow r_p - V_{pq}\,x_q \quad (p \in S_q,\ p < q),
    \qquad q = a-1, \dots, 0,

touching only the :math:`\le m` stored entries of each column: O(a m) work for any number of
right-hand sides, against O(a²) to fill the dense block :math:`V_{AA}`
(:func:`probapprox.linalg.local_block_rows`) and more for a dense triangular solve of it.
Entries whose row is not in ``rows`` are dropped and padded slots act as the identity, so the
result equals ``solve_triangular(local_block_rows(col_val, col_idx, rows), r)`` exactly.

The gradient is a custom VJP: with :math:`\bar x` the cotangent of x,
:math:`\bar r = V_{AA}^{-\top}\bar x` (forward substitution, O(a m)) and
:math:`\bar V_{pq} = -\bar r_p x_q` for every stored entry, so the backward pass stores only
x. Reverse mode only (``jax.grad``, ``jax.vjp``, and reverse-over-reverse): JAX refuses
forward mode (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) through a custom VJP with a clear
error. A custom JVP would allow it, but JAX's transpose of the tangent loop materialises an
O(a) cotangent per iteration, i.e. O(a²), and measured 1.5× slower at a = 122; autodiff
through the loop itself would store every intermediate right-hand side.

Reference:
    Golub & Van Loan (2013), "Matrix Computations", 4th ed., §3.1 (column-oriented
    triangular solves).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["solve_columns"]


def _back(off: jax.Array, pos: jax.Array, diag: jax.Array, rhs: jax.Array) -> jax.Array:
    """Back substitution :math:`V x = r` with column q's off-diagonal entries at ``pos[q]``.

    ``r_q`` travels in the loop carry (read right after the previous scatter), so the
    scatter is the only use of ``r`` in an iteration and XLA updates it in place: a read
    of ``r`` before the scatter made XLA copy the whole ``(a, k)`` buffer every iteration,
    O(a²) in all (measured: 22 → 30 µs per iteration from a = 73 to 122, against a flat 8).
    """
    a = diag.shape[0]

    def body(i: jax.Array, carry: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        r, x, r_q = carry
        q = a - 1 - i
        x_q = r_q / diag[q]
        r = r.at[pos[q]].add(-off[q][:, None] * x_q[None, :])
        return r, x.at[q].set(x_q), r[jnp.maximum(q - 1, 0)]

    return jax.lax.fori_loop(0, a, body, (rhs, jnp.zeros_like(rhs), rhs[a - 1]))[1]


def _forward_t(off: jax.Array, pos: jax.Array, diag: jax.Array, g: jax.Array) -> jax.Array:
    r"""Forward substitution :math:`V^\top y = g` (column q of V is row q of its transpose)."""

    def body(q: jax.Array, y: jax.Array) -> jax.Array:
        s = jnp.sum(off[q][:, None] * y[pos[q]], axis=0)
        return y.at[q].set((g[q] - s) / diag[q])

    return jax.lax.fori_loop(0, diag.shape[0], body, jnp.zeros_like(g))


@jax.custom_vjp
def _solve(off: jax.Array, pos: jax.Array, diag: jax.Array, rhs: jax.Array) -> jax.Array:
    return _back(off, pos, diag, rhs)


def _solve_fwd(off: jax.Array, pos: jax.Array, diag: jax.Array, rhs: jax.Array) -> tuple:
    x = _back(off, pos, diag, rhs)
    return x, (off, pos, diag, x)


def _solve_bwd(res: tuple, g: jax.Array) -> tuple:
    off, pos, diag, x = res
    y = _forward_t(off, pos, diag, g)  # the cotangent of rhs
    off_bar = -jnp.einsum("qkc,qc->qk", y[pos], x)
    diag_bar = -jnp.sum(y * x, axis=1)
    return off_bar, None, diag_bar, y


_solve.defvjp(_solve_fwd, _solve_bwd)


def solve_columns(
    col_val: jax.Array, col_idx: jax.Array, rows: jax.Array, rhs: jax.Array
) -> jax.Array:
    """Solve :math:`V_{AA} x = r`, ``A = rows``, from the gathered columns of V.

    Args:
        col_val: ``(a, m)`` values of the columns ``rows`` of V (diagonal in the last slot;
            rows at padded slots of ``rows`` are ignored).
        col_idx: ``(a, m)`` their patterns (ascending, the column's own index last, -1 pads).
        rows: ``(a,)`` ascending index row, front-padded with -1.
        rhs: ``(a,)`` or ``(a, k)`` right-hand side aligned with ``rows``; keep it 0 at padded
            slots.

    Returns:
        ``x`` with the shape of ``rhs``; differentiable in ``col_val`` and ``rhs``. No input
        checks (traceable; ``vmap`` over columns to batch).

    """
    a = rows.shape[0]
    valid = rows >= 0
    pos = jnp.clip(jnp.searchsorted(rows, col_idx), 0, a - 1)
    hit = (rows[pos] == col_idx) & (col_idx >= 0) & valid[:, None]
    off = jnp.where(hit, col_val, 0.0)[:, :-1]
    diag = jnp.where(valid, col_val[:, -1], 1.0)
    vec = rhs.ndim == 1
    x = _solve(off, pos[:, :-1], diag, rhs[:, None] if vec else rhs)
    return x[:, 0] if vec else x
