r"""Laplace (Newton) initialisation of the SIC posterior, as in the DKLGP authors' code.

The mode of :math:`\Psi(f) = \sum_i \log p(y_i \mid f_i) - \tfrac12\|U^\top(f-\mu)\|^2` is
found by damped Newton steps

.. math::
    f \leftarrow f + \alpha\,(UU^\top + W)^{-1}\big(\nabla\log p(y\mid f) - UU^\top(f-\mu)\big),
    \qquad W = \max\big(-\nabla^2 \log p(y \mid f),\, 0\big) \text{ (diagonal)},

with step halving (:math:`\alpha = 1, \tfrac12, \dots`) until :math:`\Psi` increases, at
most 20 steps and tolerance :math:`\|\Delta f\| \le 0.01\sqrt n` (the authors' settings).
Each linear system is solved matrix-free by preconditioned conjugate gradients (products
with U and :math:`U^\top` are O(nm)); the preconditioner is :math:`\tilde V\tilde V^\top`
with :math:`\tilde V` below (two sparse triangular sweeps).

The factor of the Laplace precision :math:`UU^\top + W` on the pattern: the authors run a
zero-fill incomplete Cholesky (IC(0)). Here each column is corrected on its own,

.. math::
    \tilde V_{jj} = \sqrt{U_{jj}^2 + W_j}, \qquad
    \tilde V_{ij} = U_{ij} U_{jj} / \tilde V_{jj} \quad (i \in S_j,\ i < j),

which is IC(0)'s column step when the later columns are left at U (exact for a diagonal
pattern, and exact in :math:`\tilde V_{jj}` of the last column); Adam refines it. For the
mean-field (diagonal) family :math:`V_{jj} = \sqrt{(UU^\top)_{jj} + W_j}`, the optimal
diagonal for a Gaussian target.

Reference:
    Rasmussen & Williams (2006), *Gaussian Processes for Machine Learning*, Alg. 3.1;
    Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), ICML (Laplace initialisation).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from probapprox.families.sic_gaussian import SICParams
from probapprox.linalg import PaddedFactor

__all__ = ["laplace_init", "prior_init"]

_MAX_NEWTON = 20
_MAX_HALVING = 10
_MAX_CG = 200


def _local_derivatives(lik: Any, y: jax.Array, f: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Elementwise gradient and W = max(-Hessian, 0) of log p(y | f)."""
    g1 = jax.grad(lambda ff, yy: lik.log_prob(yy, ff))
    g2 = jax.grad(g1)
    g = jax.vmap(g1)(f, y)
    w = jnp.maximum(-jax.vmap(g2)(f, y), 0.0)
    return g, w


def _corrected(u: PaddedFactor, w: jax.Array, *, diagonal: bool) -> jax.Array:
    """Values of Ṽ (module docstring), or the mean-field diagonal in the last slot."""
    u_vals, idx = u
    m = idx.shape[1]
    if diagonal:
        rows = jnp.where(idx >= 0, idx, 0)
        prec_diag = (
            jnp.zeros(idx.shape[0], u_vals.dtype)
            .at[rows]
            .add(jnp.where(idx >= 0, u_vals, 0.0) ** 2)
        )
        return jnp.zeros_like(u_vals).at[:, -1].set(jnp.sqrt(prec_diag + w))
    u_jj = u_vals[:, -1]
    v_jj = jnp.sqrt(u_jj**2 + w)
    off = (idx >= 0) & (jnp.arange(m) < m - 1)
    vals = jnp.where(off, u_vals * (u_jj / v_jj)[:, None], 0.0)
    return vals.at[:, -1].set(v_jj)


def _pcg(
    apply_a: Any, precond: Any, b: jax.Array, rtol: float = 1e-9
) -> tuple[jax.Array, jax.Array]:
    """Preconditioned CG for SPD A; returns (x, converged)."""
    x0 = jnp.zeros_like(b)
    r0 = b
    z0 = precond(r0)
    bnorm = jnp.linalg.norm(b)

    def cond(c: tuple) -> jax.Array:
        _, r, _, _, _, k = c
        return (jnp.linalg.norm(r) > rtol * bnorm) & (k < _MAX_CG)

    def body(c: tuple) -> tuple:
        x, r, z, p, rz, k = c
        ap = apply_a(p)
        alpha = rz / jnp.vdot(p, ap)
        x = x + alpha * p
        r = r - alpha * ap
        z = precond(r)
        rz_new = jnp.vdot(r, z)
        p = z + (rz_new / rz) * p
        return x, r, z, p, rz_new, k + 1

    x, r, *_ = lax.while_loop(cond, body, (x0, r0, z0, z0, jnp.vdot(r0, z0), 0))
    return x, jnp.linalg.norm(r) <= 10 * rtol * bnorm + 1e-300


@partial(jax.jit, static_argnames=("diagonal",))
def laplace_init(
    u: PaddedFactor,
    lik: Any,
    y: jax.Array,
    mu: jax.Array,
    floor: float,
    *,
    diagonal: bool = False,
) -> tuple[SICParams, jax.Array]:
    """SIC parameters at the Laplace approximation, and the number of Newton steps taken.

    Args:
        u: the prior factor U (KL-optimal columns on the pattern).
        lik: a :class:`probapprox.gp.Likelihood`.
        y: ``(n,)`` observations in the pattern's order.
        mu: prior mean (scalar).
        floor: the family's diagonal floor (``V_jj = exp(log_diag) + floor``).
        diagonal: build the mean-field (diagonal V) family instead.

    Returns:
        ``(params, steps)``; ``steps`` is negative if a conjugate-gradient solve failed.

    """
    n = u.idx.shape[0]
    dtype = u.values.dtype

    def prior_prec(x: jax.Array) -> jax.Array:
        return u.matvec(u.rmatvec(x))

    def psi(f: jax.Array) -> jax.Array:
        return jnp.sum(lik.log_prob(y, f)) - 0.5 * jnp.sum(u.rmatvec(f - mu) ** 2)

    tol = 0.01 * jnp.sqrt(n)

    def newton(c: tuple) -> tuple:
        f, _, k, ok = c
        g, w = _local_derivatives(lik, y, f)
        vt = PaddedFactor(_corrected(u, w, diagonal=False), u.idx)

        def precond(r: jax.Array) -> jax.Array:
            return vt.solve(vt.solve(r, transpose=False), transpose=True)

        step, cg_ok = _pcg(lambda x: prior_prec(x) + w * x, precond, g - prior_prec(f - mu))
        base = psi(f)

        def halve(h: tuple) -> tuple:
            a, _ = h
            return a / 2, psi(f + (a / 2) * step)

        alpha, _ = lax.while_loop(
            lambda h: (h[1] < base) & (h[0] > 0.5**_MAX_HALVING),
            halve,
            (jnp.ones((), f.dtype), psi(f + step)),
        )
        delta = alpha * step
        return f + delta, jnp.linalg.norm(delta), k + 1, ok & cg_ok

    f0 = jnp.full(n, mu, dtype=dtype)
    f, _, k, ok = lax.while_loop(
        lambda c: (c[1] > tol) & (c[2] < _MAX_NEWTON),
        newton,
        (f0, jnp.asarray(jnp.inf, dtype), 0, jnp.asarray(True)),
    )
    _, w = _local_derivatives(lik, y, f)
    vals = _corrected(u, w, diagonal=diagonal)
    return _params(f, vals, floor), jnp.where(ok, k, -1)


@partial(jax.jit, static_argnames=("diagonal",))
def prior_init(
    u: PaddedFactor, mu: jax.Array, floor: float, *, diagonal: bool = False
) -> SICParams:
    """Start at q = p̂ (V = U, ν = μ), or its mean-field diagonal (W = 0 above)."""
    n, dtype = u.idx.shape[0], u.values.dtype
    vals = _corrected(u, jnp.zeros(n, dtype), diagonal=diagonal)
    return _params(jnp.full(n, mu, dtype=dtype), vals, floor)


def _params(nu: jax.Array, vals: jax.Array, floor: float) -> SICParams:
    tiny = jnp.finfo(vals.dtype).tiny
    log_diag = jnp.log(jnp.maximum(vals[:, -1] - floor, tiny))
    return SICParams(nu, vals.at[:, -1].set(0.0), log_diag)
