r"""KL-optimal (Vecchia) sparse inverse-Cholesky columns of a kernel matrix.

Over all upper-triangular U with pattern S, the minimiser of
:math:`\mathrm{KL}(\mathcal N(0,\Theta)\,\|\,\mathcal N(0,(UU^\top)^{-1}))`,
:math:`\Theta = K + \text{nugget}\cdot I`, is, column by column with :math:`s = S_j`
(ascending, j last) and :math:`L_j = \mathrm{chol}(\Theta_{ss})`:

.. math::
    U_{s,j} = \frac{\Theta_{ss}^{-1} e_{\mathrm{last}}}
                   {\sqrt{e_{\mathrm{last}}^\top \Theta_{ss}^{-1} e_{\mathrm{last}}}}
            = L_j^{-\top} e_{\mathrm{last}},

i.e. the Vecchia form :math:`U_{jj} = d_j^{-1/2}`,
:math:`U_{c,j} = -\Theta_{cc}^{-1}\Theta_{cj}\, d_j^{-1/2}` (c = s without j) with
:math:`d_j = \Theta_{jj} - \Theta_{jc}\Theta_{cc}^{-1}\Theta_{cj}`. The minimum is
:math:`\tfrac12[\sum_j \log d_j - \log\det\Theta]`. For the dense pattern
:math:`S_j = \{0..j\}`, :math:`UU^\top = \Theta^{-1}` exactly.

Padded slots: :math:`\Theta_{ss}` gets identity rows/columns there, so the Cholesky factor
is block diagonal and the padded outputs are exactly 0.

**Numerical-failure policy.** A block that is not positive definite makes the Cholesky
return NaN under ``jit`` (nothing can be raised there), so that column comes back
non-finite. Nothing is replaced silently: call :func:`finite_columns` to get a per-column
boolean flag and act on it (e.g. raise on the host, or retry with a larger nugget).
Gradients of a failed column are NaN too.

Reference:
    Schäfer, Katzfuss, Owhadi (2021), "Sparse Cholesky factorization by Kullback–Leibler
    minimization", SIAM J. Sci. Comput. 43(3).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import solve_triangular

from probapprox.linalg._pattern import check_cols, check_pattern

__all__ = ["kl_optimal_columns", "columns_for", "finite_columns", "vecchia_kl_to_exact"]

KernelFn = Callable[[jax.Array, jax.Array], jax.Array]


def _one_column(kernel_fn: KernelFn, X: jax.Array, row: jax.Array, nugget: jax.Array) -> jax.Array:
    m = row.shape[0]
    valid = row >= 0
    xs = X[jnp.where(valid, row, 0)]
    k = kernel_fn(xs, xs)
    eye = jnp.eye(m, dtype=k.dtype)
    theta = jnp.where(valid[:, None] & valid[None, :], k + nugget * eye, eye)
    chol = jnp.linalg.cholesky(theta)
    e_last = jnp.zeros(m, dtype=k.dtype).at[-1].set(1.0)
    return solve_triangular(chol, e_last, lower=True, trans=1)


def _check_inputs(owner: str, X: jax.Array, idx: jax.Array) -> None:
    check_pattern(f"probapprox.linalg.{owner}", "idx", idx)
    if jnp.ndim(X) != 2 or jnp.shape(X)[0] != jnp.shape(idx)[0]:
        raise ValueError(
            f"probapprox.linalg.{owner}(X=...) expects (n, d) inputs with n = idx.shape[0] = "
            f"{jnp.shape(idx)[0]}; got {jnp.shape(X)}. Reshape 1-d inputs to (n, 1)."
        )


def columns_for(
    kernel_fn: KernelFn,
    X: jax.Array,
    idx: jax.Array,
    nugget: float | jax.Array,
    cols: jax.Array,
    *,
    batch_size: int | None = None,
) -> jax.Array:
    """KL-optimal columns for a batch of column indices only (for minibatch gradients).

    Args:
        kernel_fn: differentiable ``kernel_fn(X1 (p, d), X2 (q, d)) -> (p, q)``, e.g. a lambda
            closing over the lengthscale; it must have finite gradients at distance 0.
        X: ``(n, d)`` inputs in the (maximin) index order of ``idx``.
        idx: ``(n, m)`` pattern.
        nugget: added to the diagonal of every block.
        cols: ``(b,)`` column indices.
        batch_size: if set, map over columns in chunks of this size (``lax.map``) instead of
            one ``vmap``, to bound memory at O(batch_size m^2).

    Returns:
        ``(b, m)`` values aligned with ``idx[cols]`` (non-finite where a block failed).

    """
    _check_inputs("columns_for", X, idx)
    check_cols("probapprox.linalg.columns_for", cols, jnp.shape(idx)[0])
    X, rows = jnp.asarray(X), jnp.asarray(idx)[jnp.asarray(cols)]
    fn = lambda r: _one_column(kernel_fn, X, r, nugget)  # noqa: E731
    if batch_size is None:
        return jax.vmap(fn)(rows)
    return lax.map(fn, rows, batch_size=batch_size)


def kl_optimal_columns(
    kernel_fn: KernelFn,
    X: jax.Array,
    idx: jax.Array,
    nugget: float | jax.Array,
    *,
    batch_size: int | None = None,
) -> jax.Array:
    """All ``(n, m)`` KL-optimal prior values ``U[idx[j, k], j]`` (see the module docstring).

    Cost O(n m^3), batched over columns; memory O(n m^2), or O(batch_size m^2) with
    ``batch_size``. Check :func:`finite_columns` on the result (numerical-failure policy).
    """
    _check_inputs("kl_optimal_columns", X, idx)
    return columns_for(kernel_fn, X, idx, nugget, jnp.arange(idx.shape[0]), batch_size=batch_size)


def finite_columns(values: jax.Array) -> jax.Array:
    r"""Per-column flag ``(n,)``: True where every value of the column is finite.

    A False entry means the block :math:`\Theta_{s_j s_j}` was not numerically positive
    definite (Cholesky gave NaN); raise or enlarge the nugget on the host.
    """
    return jnp.all(jnp.isfinite(values), axis=-1)


def vecchia_kl_to_exact(values: jax.Array, cov: jax.Array) -> jax.Array:
    r"""Minimal KL :math:`\tfrac12[\sum_j \log d_j - \log\det\Theta]` for KL-optimal columns.

    Uses :math:`d_j = U_{jj}^{-2}`. Valid only when ``values`` are the KL-optimal columns for
    ``cov`` (then :math:`\mathrm{tr}(U^\top \Theta U) = n` and the general Gaussian KL reduces
    to this). Needs the dense ``(n, n)`` covariance: a diagnostic for small n, O(n^3).
    """
    chol = jnp.linalg.cholesky(cov)
    logdet_cov = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
    return 0.5 * (-2.0 * jnp.sum(jnp.log(values[:, -1])) - logdet_cov)
