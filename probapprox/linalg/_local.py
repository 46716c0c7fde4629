r"""Dense local blocks :math:`U_{AA}` of a padded factor, and triangular solves with them.

For an index row ``rows`` (ascending, front-padded with -1, e.g. an ancestor set
:math:`A_j` with j last) the block :math:`B = U[A, A]` is upper triangular because A is
ascending. Padded rows and columns of B are the identity, so B stays nonsingular and a
right-hand side that is 0 in padded slots gives a solution that is 0 there.

Which solve is needed where (SIC variational family, precision :math:`VV^\top`):

* marginal variance :math:`\sigma_j^2 = \|V^{-1} e_j\|^2` and the KL trace term
  :math:`\|V^{-1} U_{:,j}\|^2` need the **plain** solve :math:`V_{AA} x = r`
  (``transpose=False``). Both :math:`V^{-1}e_j` and :math:`V^{-1}U_{:,j}` are supported on
  the ancestors of j in V's DAG (edges i → k for :math:`V_{ik} \ne 0`), so the local solve is
  exact when :math:`A_j` holds all of them and an approximation otherwise.
* predictive means (:math:`-V_{**}^{-\top} V_{\mathrm{tr},*}^\top \nu`) need the
  **transposed** solve :math:`V_{AA}^\top x = r` (``transpose=True``).

Reference:
    Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), "Variational sparse inverse
    Cholesky approximation for latent Gaussian processes via double Kullback–Leibler
    minimization", ICML (arXiv 2301.13303).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

__all__ = ["local_block", "local_block_rows", "solve_local"]


def local_block(values: jax.Array, idx: jax.Array, rows: jax.Array) -> jax.Array:
    """The dense ``(a, a)`` block ``U[rows, rows]`` (identity at padded rows/columns).

    For each valid column ``c = rows[q]``, the position in ``rows`` of each stored row
    ``idx[c, k]`` is found with ``jnp.searchsorted``; entries of column c whose
    row is not in ``rows`` are dropped. Cost O(a m log a + a^2). ``vmap`` over j to batch.

    Args:
        values: ``(n, m)`` factor values.
        idx: ``(n, m)`` pattern (ascending rows, j last, front-padded with -1).
        rows: ``(a,)`` ascending index row, front-padded with -1.

    Returns:
        ``(a, a)`` upper-triangular block ``B[p, q] = U[rows[p], rows[q]]``.

    """
    if jnp.ndim(rows) != 1 or jnp.ndim(idx) != 2 or jnp.shape(values) != jnp.shape(idx):
        raise ValueError(
            "probapprox.linalg.local_block(values, idx, rows) expects values and idx of the "
            f"same (n, m) shape and a 1-d rows; got {jnp.shape(values)}, {jnp.shape(idx)}, "
            f"{jnp.shape(rows)}. Use jax.vmap to batch over rows."
        )
    return _local_block(jnp.asarray(values), jnp.asarray(idx), jnp.asarray(rows))


@jax.jit
def _local_block(values: jax.Array, idx: jax.Array, rows: jax.Array) -> jax.Array:
    safe = jnp.where(rows >= 0, rows, 0)
    return local_block_rows(values[safe], idx[safe], rows)


def local_block_rows(col_val: jax.Array, col_idx: jax.Array, rows: jax.Array) -> jax.Array:
    """:func:`local_block` from the gathered columns ``values[rows]`` and ``idx[rows]``.

    For callers that hold only the columns they need (e.g. a minibatch's rows of a large
    factor): ``col_val`` and ``col_idx`` are ``(a, m)``; their rows at padded slots of
    ``rows`` are ignored. Each stored entry ``(idx[c, k], c)`` is located in ``rows`` by
    binary search and scattered into the block, so the cost is O(a m log a) plus the O(a²)
    fill (a dense compare of every row with every column, O(a² m), dominated the DKLGP
    step as the ancestor sets grow with n). No input checks (traceable).
    """
    a, m = col_idx.shape
    valid = rows >= 0
    pos = jnp.clip(jnp.searchsorted(rows, col_idx), 0, a - 1)  # (q, k): slot p of each entry
    hit = (rows[pos] == col_idx) & (col_idx >= 0) & valid[:, None]
    cols = jnp.broadcast_to(jnp.arange(a)[:, None], (a, m))
    block = jnp.zeros((a, a), col_val.dtype).at[pos, cols].add(jnp.where(hit, col_val, 0.0))
    return block + jnp.diag((~valid).astype(block.dtype))


def solve_local(
    values: jax.Array,
    idx: jax.Array,
    anc_j: jax.Array,
    rhs_j: jax.Array,
    *,
    transpose: bool = False,
) -> jax.Array:
    r"""Solve :math:`U_{AA} x = r` (or :math:`U_{AA}^\top x = r`) with ``A = anc_j``.

    Args:
        values: ``(n, m)`` factor values.
        idx: ``(n, m)`` pattern.
        anc_j: ``(a,)`` ascending index row, front-padded with -1.
        rhs_j: ``(a,)`` or ``(a, k)``, aligned with ``anc_j``; keep it 0 at padded slots.
        transpose: solve with the transposed (lower-triangular) block.

    Returns:
        ``x`` with the shape of ``rhs_j``.

    """
    block = local_block(values, idx, anc_j)
    return solve_triangular(block, rhs_j, lower=False, trans=1 if transpose else 0)
