r"""MAP of a potential by damped saddle-free Newton (L-BFGS in high dimension), traceable.

For a potential :math:`U` (negative log density) on :math:`\mathbb R^D`, each Newton
iteration at :math:`z` computes :math:`(U, g, H)` (one batch of forward-over-reverse
products), the floored absolute curvature :math:`|H| = Q\,\mathrm{diag}(a)\,Q^\top` with
:math:`a = \max(|\lambda|, \epsilon)` (:func:`probapprox.linalg.floor_eigenvalues`), the
saddle-free direction :math:`\delta = -|H|^{-1}g` and the Newton decrement
:math:`\nu = g^\top|H|^{-1}g` (squared distance to the mode in posterior standard deviations).
A trial point :math:`z + t\delta` is accepted by the Armijo test up to rounding,
:math:`U(z + t\delta) \le U(z) - c\,t\,\nu + 8\varepsilon_{\mathrm{mach}}\max(1, |U(z)|)`, and
then :math:`t \leftarrow \min(1, 2t)`, else :math:`t \leftarrow t/4`.
Affine invariant: posterior scales of :math:`10^{-3}` next to :math:`10^3` cost nothing. The
search stops when :math:`\nu <` ``tol`` (converged) or the step vanishes. Above ``dense_max``
dimensions :func:`lbfgs_map` (optax, zoom line search) replaces it and the diagonal of
:math:`H` comes from :math:`D` Hessian-vector products.

References:
    Nocedal & Wright (2006), "Numerical Optimization", ch. 3, 7; Dauphin et al. (2014),
    "Identifying and attacking the saddle point problem", NeurIPS (|H| Newton).

"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu
from jax import Array, lax

from probapprox.linalg import floor_eigenvalues

__all__ = ["NewtonResult", "newton_map", "lbfgs_map", "value_grad_hess", "hessian_diagonal"]

ARMIJO = 1e-4


class NewtonResult(NamedTuple):
    r"""Result of :func:`newton_map` (arrays; batched under ``vmap``).

    Attributes:
        loc: the last accepted point :math:`z` (the MAP when ``converged``), ``(D,)``.
        value: :math:`U(z)`.
        grad: :math:`\nabla U(z)`.
        evals: eigenvalues :math:`\lambda` of :math:`H(z)` (ascending, unfloored), ``(D,)``.
        evecs: their eigenvectors :math:`Q`, ``(D, D)``.
        decrement: Newton decrement :math:`g^\top|H|^{-1}g` at :math:`z`.
        iterations: potential evaluations.
        converged: ``decrement < tol`` with finite values.

    """

    loc: Array
    value: Array
    grad: Array
    evals: Array
    evecs: Array
    decrement: Array
    iterations: Array
    converged: Array


def value_grad_hess(u: Callable[[Array], Array], z: Array) -> tuple[Array, Array, Array]:
    """``(U, ∇U, ∇²U)`` at ``z`` from one batch of forward-over-reverse products."""
    eye = jnp.eye(z.shape[0], dtype=z.dtype)
    (f, g), (_, hess) = jax.vmap(lambda v: jax.jvp(jax.value_and_grad(u), (z,), (v,)))(eye)
    return f[0], g[0], 0.5 * (hess + hess.T)


def hessian_diagonal(u: Callable[[Array], Array], z: Array) -> Array:
    """``diag ∇²U(z)`` from ``D`` Hessian-vector products (row by row, low memory)."""
    hvp = jax.linearize(jax.grad(u), z)[1]
    eye = jnp.eye(z.shape[0], dtype=z.dtype)
    return lax.map(lambda e: jnp.dot(e, hvp(e)), eye)


def newton_map(
    u: Callable[[Array], Array],
    z0: Array,
    *,
    max_iter: int = 100,
    tol: float = 1e-14,
    min_eigenvalue: float | None = None,
) -> NewtonResult:
    """Damped saddle-free Newton from ``z0`` (see the module docstring); ``jit``/``vmap``-able.

    Args:
        u: the potential :math:`U` (traceable).
        z0: start, ``(D,)``.
        max_iter: potential evaluations at most.
        tol: Newton decrement at which the search has converged.
        min_eigenvalue: a fixed curvature floor (default: the numerical-rank floor).

    """
    dim, dtype = z0.shape[0], z0.dtype

    def direction(g: Array, hess: Array) -> tuple:
        lam, q = jnp.linalg.eigh(hess)
        a, _ = floor_eigenvalues(lam, min_eigenvalue)
        qg = q.T @ g
        return lam, q, -(q @ (qg / a)), jnp.sum(qg**2 / a)

    def body(c: tuple) -> tuple:
        base, step, t, it, _ = c
        trial = base.loc + t * step
        ft, g, hess = value_grad_hess(u, trial)
        first = it == 0
        # the Armijo test up to the rounding error of U: near the mode the predicted decrease
        # c t nu falls below eps |U| and a strict test would reject every full Newton step
        slack = 8 * jnp.finfo(dtype).eps * jnp.maximum(1.0, jnp.abs(base.value))
        ok = (ft <= base.value - ARMIJO * t * base.decrement + slack) | first  # False for NaN
        ok = ok & jnp.isfinite(ft) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(hess))
        lam, q, new_step, dec = direction(g, hess)
        new = NewtonResult(trial, ft, g, lam, q, dec, it + 1, dec < tol)
        base = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, base)
        base = base._replace(iterations=it + 1)
        step = jnp.where(ok, new_step, step)
        t = jnp.where(ok, jnp.where(first, 1.0, jnp.minimum(2.0 * t, 1.0)), 0.25 * t)
        stop = base.converged | (t < 1e-12) | (first & ~ok)
        return base, step, t, it + 1, stop

    inf = jnp.asarray(jnp.inf, dtype)
    zeros = jnp.zeros(dim, dtype)
    base0 = NewtonResult(
        z0, inf, zeros, zeros, jnp.eye(dim, dtype=dtype), inf, jnp.int32(0), jnp.array(False)
    )
    init = (base0, zeros, jnp.asarray(0.0, dtype), jnp.int32(0), jnp.array(False))
    out = lax.while_loop(lambda c: (c[3] < max_iter) & ~c[4], body, init)
    return out[0]


def lbfgs_map(
    u: Callable[[Array], Array], z0: Array, *, max_iter: int = 1000, gtol: float = 1e-8
) -> tuple[Array, Array, Array]:
    """L-BFGS (optax, zoom line search) from ``z0``: ``(z, U(z), iterations)``."""
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(u)

    def body(c: tuple) -> tuple:
        z, state = c
        value, grad = value_and_grad(z, state=state)
        updates, state = opt.update(grad, state, z, value=value, grad=grad, value_fn=u)
        return optax.apply_updates(z, updates), state

    def cond(c: tuple) -> Array:
        count = otu.tree_get(c[1], "count")
        grad = otu.tree_get(c[1], "grad")
        return (count == 0) | ((count < max_iter) & (otu.tree_norm(grad) > gtol))

    z, state = lax.while_loop(cond, body, (z0, opt.init(z0)))
    return z, u(z), otu.tree_get(state, "count")
