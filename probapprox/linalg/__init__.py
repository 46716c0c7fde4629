"""Pure-JAX linear algebra (no NumPyro): padded sparse triangular factors and SIC columns.

Padded column storage shared across probapprox: ``idx (n, m)`` int, row j lists the rows of
column j's nonzeros ascending, with j itself last and front padding -1; ``values (n, m)``
holds ``U[idx[j, k], j]`` (0 in padded slots). The factor is upper triangular and the
precision it represents is ``U @ U.T``.

>>> import probapprox.linalg as pl  # doctest: +SKIP
>>> U_vals = pl.kl_optimal_columns(kernel_fn, X, idx, nugget=1e-4)  # doctest: +SKIP
>>> ok = pl.finite_columns(U_vals)  # doctest: +SKIP
>>> z = pl.solve(U_vals, idx, eps, transpose=True)  # a draw from N(0, (U U^T)^-1)  # doctest: +SKIP

Sibling packages (``families``, ``gp``) also import the pattern validators (``check_cols``,
``check_pattern``, ``check_subset``) and the local-block helpers (``local_block``,
``local_block_rows``, ``solve_local``) and the finite-step guard (``finite_step``, also used by
``probapprox.infer``) from here; they are internals, not in ``__all__``. ``PaddedFactor`` keeps
a ``(values, idx)`` pair together as one pytree with the same operations as methods.

Float64 is the caller's setting (the GP cores need it); nothing here changes JAX config.
"""

from probapprox.linalg._cholesky import safe_cholesky as safe_cholesky
from probapprox.linalg._eig import eigenvalue_floor as eigenvalue_floor
from probapprox.linalg._eig import floor_eigenvalues as floor_eigenvalues
from probapprox.linalg._factor import PaddedFactor as PaddedFactor
from probapprox.linalg._finite import finite_step as finite_step
from probapprox.linalg._kl_columns import columns_for as columns_for
from probapprox.linalg._kl_columns import finite_columns as finite_columns
from probapprox.linalg._kl_columns import kl_optimal_columns as kl_optimal_columns
from probapprox.linalg._kl_columns import vecchia_kl_to_exact as vecchia_kl_to_exact
from probapprox.linalg._local import local_block as local_block
from probapprox.linalg._local import local_block_rows as local_block_rows
from probapprox.linalg._local import solve_local as solve_local
from probapprox.linalg._padded import diag as diag
from probapprox.linalg._padded import logdet_precision as logdet_precision
from probapprox.linalg._padded import matvec as matvec
from probapprox.linalg._padded import rmatvec as rmatvec
from probapprox.linalg._padded import solve as solve
from probapprox.linalg._padded import to_dense as to_dense
from probapprox.linalg._pattern import check_cols as check_cols
from probapprox.linalg._pattern import check_pattern as check_pattern
from probapprox.linalg._pattern import check_subset as check_subset
from probapprox.linalg._sparse_solve import solve_columns as solve_columns

__all__ = [
    "PaddedFactor",
    "columns_for",
    "diag",
    "eigenvalue_floor",
    "finite_columns",
    "floor_eigenvalues",
    "kl_optimal_columns",
    "logdet_precision",
    "matvec",
    "rmatvec",
    "safe_cholesky",
    "solve",
    "solve_columns",
    "to_dense",
    "vecchia_kl_to_exact",
]
