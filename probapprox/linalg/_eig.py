r"""The one eigenvalue floor of probapprox's curvatures (Newton steps and Laplace Gaussians).

A curvature :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top` of a potential can be singular (a flat
direction, an improper prior) or indefinite (a saddle, or a point that is not quite a mode).
Every place that turns it into a precision uses the same rule,

.. math::
    a_i = \max\big(|\lambda_i|,\ \epsilon\big), \qquad
    \epsilon = D\,\varepsilon_{\mathrm{mach}}\,\max_j |\lambda_j|
    \ \ (\text{or a given } \texttt{min\_eigenvalue}),

the saddle-free absolute value (Dauphin et al. 2014: a Newton step on :math:`|H|` descends
along negative-curvature directions instead of climbing them) floored at the numerical-rank
tolerance (eigenvalues below :math:`\epsilon` are zero to working precision, the tolerance of
``numpy.linalg.matrix_rank``). A larger floor such as :math:`\sqrt{\varepsilon}\max|\lambda|`
would clip genuine eigenvalues of badly scaled posteriors (a logistic regression with a
predictor of scale :math:`10^4` has a precision spectrum spanning :math:`10^9`). Eigenvalues
below the floor (negative ones included) are counted as clipped.

Reference: Dauphin et al. (2014), "Identifying and attacking the saddle point problem in
high-dimensional non-convex optimization", NeurIPS; Golub & Van Loan (2013), "Matrix
Computations", 4th ed., §5.4.1 (numerical rank).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array

__all__ = ["eigenvalue_floor", "floor_eigenvalues"]


def eigenvalue_floor(values: Array, min_eigenvalue: float | Array | None = None) -> Array:
    r"""The floor :math:`\epsilon` for eigenvalues (or diagonal entries) ``values (..., D)``.

    Args:
        values: the curvature's eigenvalues (last axis), any sign.
        min_eigenvalue: a fixed floor instead of :math:`D\,\varepsilon\max|\lambda|`.

    Returns:
        The floor, shape ``values.shape[:-1]`` (at least the smallest normal number, so
        positive also for an all-zero spectrum).

    """
    values = jnp.asarray(values)
    dtype = values.dtype
    if min_eigenvalue is not None:
        return jnp.broadcast_to(jnp.asarray(min_eigenvalue, dtype), values.shape[:-1])
    tiny = jnp.finfo(dtype).tiny
    floor = values.shape[-1] * jnp.finfo(dtype).eps * jnp.max(jnp.abs(values), axis=-1)
    return jnp.maximum(floor, tiny)  # positive also for an all-zero spectrum


def floor_eigenvalues(
    values: Array, min_eigenvalue: float | Array | None = None
) -> tuple[Array, Array]:
    r"""``(a, num_clipped)``: :math:`\max(|\lambda|, \epsilon)` and the count below the floor.

    Args:
        values: eigenvalues (or diagonal entries) on the last axis.
        min_eigenvalue: a fixed floor (see :func:`eigenvalue_floor`).

    """
    values = jnp.asarray(values)
    floor = eigenvalue_floor(values, min_eigenvalue)[..., None]
    a = jnp.maximum(jnp.abs(values), floor)
    return a, jnp.sum(values < floor, axis=-1, dtype=jnp.int32)
