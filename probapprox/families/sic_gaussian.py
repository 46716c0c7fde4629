r"""The SIC (sparse inverse Cholesky) Gaussian variational family of DKLGP: pure JAX maths.

.. math::
    q(f) = \mathcal N\big(f;\ \nu,\ (V V^\top)^{-1}\big),

with V upper triangular on the padded pattern ``idx`` of the prior factor U (prior
:math:`\hat p = \mathcal N(\mu, (UU^\top)^{-1})`). Parameters are a :class:`SICParams` pytree:
``nu (n,)``, ``offdiag (n, m)`` (the off-diagonal values of V aligned with ``idx``; the last
slot and padded slots are ignored) and ``log_diag (n,)`` with
:math:`V_{jj} = e^{\text{log\_diag}_j} + \text{floor}` (floor 1e-4 as in the authors' code).

The KL splits over columns (from :math:`2\,\mathrm{KL} = \|V^{-1}U\|_F^2
+ \|U^\top(\nu-\mu)\|^2 - n + 2\sum_j\log V_{jj} - 2\sum_j\log U_{jj}`):

.. math::
    \mathrm{KL}(q\,\|\,\hat p) = \sum_j k_j, \qquad
    k_j = \log V_{jj} - \log U_{jj} + \tfrac12\big(U_{:,j}^\top(\nu-\mu)\big)^2
          + \tfrac12\|V^{-1}U_{:,j}\|^2 - \tfrac12,

and the marginals are :math:`f_j \sim \mathcal N(\nu_j, \sigma_j^2)`,
:math:`\sigma_j^2 = \|V^{-1}e_j\|^2` (since :math:`\mathrm{Cov} = V^{-\top}V^{-1}`).
:math:`V^{-1}e_j` and :math:`V^{-1}U_{:,j}` are computed with the dense local block
:math:`V_{A_jA_j}` (``anc``): **exact when** :math:`A_j` **contains every ancestor of j in
V's DAG** (e.g. the dense pattern, or the transitive closure of the pattern), and the
authors' reduced-ancestor approximation otherwise (e.g. the ρ-ball
:math:`A_j = \{i \le j: \|x_i - x_j\| \le \rho\ell_i\}`). Sampling and ``log_prob`` use
global sparse triangular sweeps and are always exact.

For a minibatch B of columns the unbiased KL estimate is ``(n / |B|) * column_terms(...).kl.sum()``
(the caller scales); recompute ``prior_values_batch`` with ``probapprox.linalg.columns_for``
inside the loss to get kernel-hyperparameter gradients. Prior columns that failed (see
``probapprox.linalg.finite_columns``) make the corresponding terms NaN.

Reference:
    Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), "Variational sparse inverse
    Cholesky approximation for latent Gaussian processes via double Kullback–Leibler
    minimization", ICML (arXiv 2301.13303).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from probapprox.families.sic_local import column_core
from probapprox.linalg import (
    check_cols,
    check_pattern,
    check_subset,
    rmatvec,
    solve,
    solve_local,
)

__all__ = [
    "SICParams",
    "factor_values",
    "init_from_prior",
    "column_terms",
    "kl",
    "marginals",
    "sample",
    "log_prob",
    "entropy",
]

DIAG_FLOOR = 1e-4
_LOG_2PI = math.log(2.0 * math.pi)  # a Python float: no JAX backend at import


class SICParams(NamedTuple):
    """Parameters of the SIC family.

    Attributes:
        nu: mean ``(n,)``.
        offdiag: off-diagonal values of V ``(n, m)``, aligned with ``idx`` (last slot unused).
        log_diag: ``(n,)``, with ``V_jj = exp(log_diag_j) + floor``.

    """

    nu: jax.Array
    offdiag: jax.Array
    log_diag: jax.Array


class ColumnTerms(NamedTuple):
    """Per-column outputs of :func:`column_terms`, each ``(b,)``.

    Attributes:
        mean: marginal means ``nu_j``.
        var: marginal variances ``||V^{-1} e_j||^2``.
        kl: KL column terms ``k_j`` (they sum to KL(q || p̂)).

    """

    mean: jax.Array
    var: jax.Array
    kl: jax.Array


def _check(owner: str, params: SICParams, idx: jax.Array, anc: jax.Array | None = None) -> None:
    where = f"probapprox.families.sic_gaussian.{owner}"
    check_pattern(where, "idx", idx)
    n, m = jnp.shape(idx)
    want = {"nu": (n,), "offdiag": (n, m), "log_diag": (n,)}
    for name, shape in want.items():
        if jnp.shape(getattr(params, name)) != shape:
            raise ValueError(
                f"{where}(params=...): params.{name} must have shape {shape} to match idx "
                f"{(n, m)}; got {jnp.shape(getattr(params, name))}."
            )
    if anc is not None:
        check_pattern(where, "anc", anc)
        check_subset(where, idx, anc)


@jax.jit
def factor_values(params: SICParams, idx: jax.Array, *, floor: float = DIAG_FLOOR) -> jax.Array:
    """The ``(n, m)`` padded values of V: off-diagonals masked to the pattern, diagonal last."""
    m = idx.shape[1]
    off = (idx >= 0) & (jnp.arange(m) < m - 1)
    vals = jnp.where(off, params.offdiag, 0.0)
    return vals.at[:, -1].set(jnp.exp(params.log_diag) + floor)


@jax.jit
def init_from_prior(
    prior_values: jax.Array, idx: jax.Array, *, floor: float = DIAG_FLOOR
) -> SICParams:
    """Start at q = p̂ with ν = 0 and V = U (the authors' initialisation without Laplace)."""
    n, m = jnp.shape(idx)
    off = jnp.where((idx >= 0) & (jnp.arange(m) < m - 1), prior_values, 0.0)
    tiny = jnp.finfo(jnp.result_type(prior_values)).tiny
    log_diag = jnp.log(jnp.maximum(prior_values[:, -1] - floor, tiny))
    return SICParams(jnp.zeros(n, dtype=off.dtype), off, log_diag)


def _terms(
    v_vals: jax.Array, idx: jax.Array, anc_j: jax.Array, u_j: jax.Array, dev: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(σ_j², k_j) for one column from V's values, ``anc_j (a,)`` and ``u_j (m,)``."""
    j = anc_j[-1]
    safe = jnp.maximum(anc_j, 0)
    return column_core(v_vals[safe], idx[safe], anc_j, idx[j], u_j, dev[safe], v_vals[j, -1])


def column_terms(
    params: SICParams,
    prior_values_batch: jax.Array,
    idx: jax.Array,
    anc: jax.Array,
    cols: jax.Array,
    mu: float | jax.Array = 0.0,
    *,
    floor: float = DIAG_FLOOR,
) -> ColumnTerms:
    """Marginal mean, variance and KL term of each column in ``cols`` (see module docstring).

    Args:
        params: the family's parameters.
        prior_values_batch: ``(b, m)`` prior columns ``U[idx[j], j]`` for ``j in cols``
            (e.g. from ``probapprox.linalg.columns_for``).
        idx: ``(n, m)`` pattern shared by U and V.
        anc: ``(n, a)`` ancestor sets (same format, ``idx[j] ⊆ anc[j]``).
        cols: ``(b,)`` column indices.
        mu: prior mean, a scalar or ``(n,)``.
        floor: added to ``exp(log_diag)`` on V's diagonal.

    Returns:
        :class:`ColumnTerms` with ``(b,)`` fields. Exact when ``anc`` holds all ancestors in
        V's DAG; otherwise the reduced-ancestor approximation.

    """
    _check("column_terms", params, idx, anc)
    check_cols("probapprox.families.sic_gaussian.column_terms", cols, jnp.shape(idx)[0])
    if jnp.ndim(cols) != 1 or jnp.shape(prior_values_batch) != (jnp.shape(cols)[0], idx.shape[1]):
        raise ValueError(
            "probapprox.families.sic_gaussian.column_terms(prior_values_batch=..., cols=...) "
            f"expects cols (b,) and prior_values_batch (b, {idx.shape[1]}); got "
            f"{jnp.shape(cols)} and {jnp.shape(prior_values_batch)}."
        )
    return _column_terms(params, prior_values_batch, idx, anc, cols, mu, floor)


@jax.jit
def _column_terms(
    params: SICParams,
    prior_values_batch: jax.Array,
    idx: jax.Array,
    anc: jax.Array,
    cols: jax.Array,
    mu: float | jax.Array,
    floor: float,
) -> ColumnTerms:
    v_vals = factor_values(params, idx, floor=floor)
    dev = params.nu - mu
    var, kl_terms = jax.vmap(lambda a, u: _terms(v_vals, idx, a, u, dev))(
        anc[cols], prior_values_batch
    )
    return ColumnTerms(params.nu[cols], var, kl_terms)


def kl(
    params: SICParams,
    prior_values: jax.Array,
    idx: jax.Array,
    anc: jax.Array,
    mu: float | jax.Array = 0.0,
    *,
    floor: float = DIAG_FLOOR,
    batch_size: int = 256,
) -> jax.Array:
    r""":math:`\mathrm{KL}(q\,\|\,\hat p) = \sum_j k_j` over all columns, in ``lax.map`` chunks.

    Memory O(batch_size a^2); exact under the same condition as :func:`column_terms`.
    """
    _check("kl", params, idx, anc)
    if jnp.shape(prior_values) != jnp.shape(idx):
        raise ValueError(
            "probapprox.families.sic_gaussian.kl(prior_values=...) must have the shape of idx "
            f"{jnp.shape(idx)}; got {jnp.shape(prior_values)}."
        )
    return _kl(params, prior_values, idx, anc, mu, floor, batch_size=int(batch_size))


@partial(jax.jit, static_argnames="batch_size")
def _kl(
    params: SICParams,
    prior_values: jax.Array,
    idx: jax.Array,
    anc: jax.Array,
    mu: float | jax.Array,
    floor: float,
    *,
    batch_size: int,
) -> jax.Array:
    v_vals = factor_values(params, idx, floor=floor)
    dev = params.nu - mu

    def one(xs: tuple[jax.Array, jax.Array]) -> jax.Array:
        return _terms(v_vals, idx, xs[0], xs[1], dev)[1]

    kl_terms = lax.map(one, (anc, prior_values), batch_size=batch_size)
    return jnp.sum(kl_terms)


def marginals(
    params: SICParams,
    idx: jax.Array,
    anc: jax.Array,
    *,
    floor: float = DIAG_FLOOR,
    batch_size: int = 256,
) -> tuple[jax.Array, jax.Array]:
    r"""Marginal means ``nu`` and variances :math:`\sigma_j^2 = \|V_{A_jA_j}^{-1}e_j\|^2`."""
    _check("marginals", params, idx, anc)
    return params.nu, _variances(params, idx, anc, floor, batch_size=int(batch_size))


@partial(jax.jit, static_argnames="batch_size")
def _variances(
    params: SICParams, idx: jax.Array, anc: jax.Array, floor: float, *, batch_size: int
) -> jax.Array:
    v_vals = factor_values(params, idx, floor=floor)
    a = anc.shape[1]
    e_last = jnp.zeros(a, dtype=v_vals.dtype).at[-1].set(1.0)

    def one(anc_j: jax.Array) -> jax.Array:
        return jnp.sum(solve_local(v_vals, idx, anc_j, e_last) ** 2)

    return lax.map(one, anc, batch_size=batch_size)


def sample(
    params: SICParams, idx: jax.Array, key: jax.Array, num: int, *, floor: float = DIAG_FLOOR
) -> jax.Array:
    r"""Exact draws :math:`f = \nu + V^{-\top}\varepsilon`, ``(num, n)``.

    :math:`\varepsilon` = ``jax.random.normal(key, (num, n))``; the solve
    :math:`V^\top z = \varepsilon` is a forward sparse sweep, O(n m num) work.
    """
    _check("sample", params, idx)
    return _sample(params, jnp.asarray(idx), key, floor, num=int(num))


@partial(jax.jit, static_argnames="num")
def _sample(
    params: SICParams, idx: jax.Array, key: jax.Array, floor: float, *, num: int
) -> jax.Array:
    n = idx.shape[0]
    eps = jax.random.normal(key, (num, n), dtype=params.nu.dtype)
    z = solve(factor_values(params, idx, floor=floor), idx, eps.T, transpose=True)
    return params.nu + z.T


def log_prob(
    params: SICParams, idx: jax.Array, f: jax.Array, *, floor: float = DIAG_FLOOR
) -> jax.Array:
    r""":math:`\log q(f) = \sum_j \log V_{jj} - \tfrac12\|V^\top(f-\nu)\|^2 - \tfrac n2\log 2\pi`.

    ``f`` is ``(n,)`` or ``(..., n)``; returns the batch shape.
    """
    _check("log_prob", params, idx)
    n = idx.shape[0]
    if jnp.shape(f)[-1:] != (n,):
        raise ValueError(
            f"probapprox.families.sic_gaussian.log_prob(f=...) expects shape (..., {n}); "
            f"got {jnp.shape(f)}."
        )
    return _log_prob(params, jnp.asarray(idx), jnp.asarray(f), floor)


@jax.jit
def _log_prob(params: SICParams, idx: jax.Array, f: jax.Array, floor: float) -> jax.Array:
    n = idx.shape[0]
    v_vals = factor_values(params, idx, floor=floor)
    flat = (f - params.nu).reshape(-1, n)
    w = rmatvec(v_vals, idx, flat.T)
    out = jnp.sum(jnp.log(v_vals[:, -1])) - 0.5 * jnp.sum(w**2, axis=0) - 0.5 * n * _LOG_2PI
    return out.reshape(jnp.shape(f)[:-1])


@jax.jit
def entropy(params: SICParams, *, floor: float = DIAG_FLOOR) -> jax.Array:
    r"""Entropy :math:`\tfrac n2(1 + \log 2\pi) - \sum_j \log V_{jj}`."""
    n = params.log_diag.shape[0]
    return 0.5 * n * (1.0 + _LOG_2PI) - jnp.sum(jnp.log(jnp.exp(params.log_diag) + floor))
