r"""MAP search and curvature of the potential, choosing the best local Laplace on the way.

On the flat unconstrained latent with potential :math:`U` (see :mod:`._flat`):

* **Path.** For :math:`D \le` ``dense_max``: saddle-free damped Newton with the clipped
  Hessian :math:`|H| = Q\,\mathrm{diag}(\max(|\lambda|, \epsilon))\,Q^\top` and an adaptive
  Armijo step (affine invariant, so posterior scales of 1e-3 next to scales of 1e3 cost
  nothing), stopping when the Newton decrement :math:`g^\top|H|^{-1}g` (squared distance to
  the mode in posterior standard deviations) falls below ``tol``. Above ``dense_max``: L-BFGS
  (optax, zoom line search) and the diagonal of the Hessian from Hessian-vector products.
* **Local Gaussians.** At every Newton iterate :math:`z` the Laplace Gaussian
  :math:`\mathcal N(z, |H|^{-1})` (diagonal :math:`\mathrm{diag}(|H_{ii}|^{-1})` for ``diag``)
  has its ELBO :math:`\mathbb E_q[-U] + \mathcal H[q]` estimated with fixed draws, and the
  iterate with the best ELBO is kept (the latest one within a nat of it), as in Pathfinder:
  where the joint density has no mode, or its mode is far from the mass (a centred
  hierarchical model as :math:`\tau \to 0`, the neck of a funnel), the path passes the bulk
  of the posterior before it runs off, and the ELBO sees it.
* **Factor.** ``dense``: :math:`C` the lower Cholesky factor of :math:`|H|^{-1}`, from a QR
  of :math:`\mathrm{diag}(a^{-1/2})Q^\top` (never squaring the condition number); ``diag``:
  :math:`C = \mathrm{diag}(|H_{ii}|^{-1/2})`.
* **Check.** The warm start is accepted only if that best Gaussian's ELBO is finite and at
  least the ELBO of the guide's own starting Gaussian :math:`\mathcal N(z_0, s^2 I)`.

The floor is probapprox's one rule, :func:`probapprox.linalg.floor_eigenvalues`
(:math:`\max(|\lambda|, D\,\varepsilon_{\mathrm{mach}}\max|\lambda|)`); negative and
floored eigenvalues are counted. The Hessian products, L-BFGS and the Laplace factor come from
:mod:`probapprox.potential` (whose plain MAP search :func:`~probapprox.potential.newton_map`
keeps the last iterate; this one keeps the best-ELBO iterate of the path). Everything is one
jitted, ``vmap``-able function of the start point.

References:
    Zhang, Carpenter, Gelman, Vehtari (2022), "Pathfinder: parallel quasi-Newton variational
    inference", JMLR 23; Nocedal & Wright (2006), "Numerical Optimization", ch. 3 and 7;
    Dauphin et al. (2014), "Identifying and attacking the saddle point problem" (|H| Newton).

"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array, lax

from probapprox.linalg import floor_eigenvalues
from probapprox.potential import hessian_diagonal, laplace_factor, lbfgs_map, value_grad_hess

__all__ = ["WarmStart", "warm_start"]

_ARMIJO = 1e-4
# ELBO estimates (16 common draws) of nearby Gaussians differ by O(1/sqrt(16)) sd of offset;
# within this many nats of the best, the latest (most converged) iterate is kept
_ELBO_TIE = 1.0


class WarmStart(NamedTuple):
    r"""Result of :func:`warm_start` (arrays; batched under ``vmap``).

    Attributes:
        shift: the MAP :math:`z_*`, shape ``(D,)``.
        factor: :math:`C`, ``(D, D)`` lower triangular (dense) or ``(D,)`` (diag).
        accepted: whether the warm start passed the ELBO check.
        iterations: optimiser iterations.
        decrement: final Newton decrement :math:`g^\top|H|^{-1}g` (diagonal ``H`` for L-BFGS).
        num_clipped: curvature eigenvalues (diagonal entries) clipped at the floor.
        elbo_laplace: ELBO estimate of the Laplace Gaussian.
        elbo_init: ELBO estimate of the guide's starting Gaussian.
        converged: whether the search ended at a mode (decrement below ``tol``, positive
            curvature) and kept it, rather than an earlier iterate of a path that ran off.

    """

    shift: Array
    factor: Array
    accepted: Array
    iterations: Array
    decrement: Array
    num_clipped: Array
    elbo_laplace: Array
    elbo_init: Array
    converged: Array


def _newton(
    u: Callable[[Array], Array],
    z0: Array,
    init_scale: Array,
    eps: Array,
    structure: str,
    max_iter: int,
    tol: float,
) -> tuple:
    r"""Saddle-free Newton path; keeps the iterate whose local Laplace has the best ELBO.

    Each iteration evaluates :math:`(U, g, H)` at the trial point :math:`z_b + t\,\delta_b`.
    If it passes the Armijo test against the base point :math:`z_b` it becomes the base, with
    a new direction :math:`\delta_b = -|H|^{-1}g` and :math:`t \leftarrow \min(1, 2t)`; else
    :math:`t` is quartered. The ELBO of each iterate's local Gaussian uses any square root of its
    covariance (:math:`Q\,\mathrm{diag}(a^{-1/2})`); iteration 0 instead scores the guide's own
    start :math:`\mathcal N(z_0, s^2 I)`, so the potential is traced once for all ELBOs. The
    iterate kept is the latest whose ELBO is within ``_ELBO_TIE`` nats of the best so far: the
    converged mode, unless the path ran off to where the ELBO is clearly worse.
    Returns ``(z, |H| eigenpairs or diagonal, elbo, elbo_init, iterations, decrement,
    converged)``; ``converged``: the decrement fell below ``tol`` and the kept iterate is the
    last one.
    """
    dim, dtype = z0.shape[0], z0.dtype
    const = 0.5 * dim * (1.0 + jnp.log(2.0 * jnp.pi))

    def body(c: tuple) -> tuple:
        z, f, step, dec, t, it, _, best, top, elbo_init = c
        trial = z + t * step
        ft, g, hess = value_grad_hess(u, trial)
        ok = (ft <= f - _ARMIJO * t * dec) | (it == 0)  # False for NaN
        ok = ok & jnp.isfinite(ft) & jnp.all(jnp.isfinite(g))
        lam, q = jnp.linalg.eigh(hess)
        a, _ = floor_eigenvalues(lam)
        qg = q.T @ g
        if structure == "dense":
            draws, logdet = (eps / jnp.sqrt(a)) @ q.T, -0.5 * jnp.sum(jnp.log(a))
        else:
            scale, _ = _diag_factor(jnp.diagonal(hess))
            draws, logdet = eps * scale, jnp.sum(jnp.log(scale))
        first = it == 0
        loc = jnp.where(first, z0, trial)
        draws = jnp.where(first, init_scale * eps, draws)
        logdet = jnp.where(first, dim * jnp.log(init_scale), logdet)
        elbo = jnp.mean(-jax.vmap(u)(loc + draws)) + logdet + const
        elbo_init = jnp.where(first, elbo, elbo_init)
        keep = jnp.diagonal(hess) if structure == "diag" else (lam, q)
        cand = (trial, keep, jnp.where(ok & ~first, elbo, -jnp.inf))
        top = jnp.maximum(top, cand[2])
        later = cand[2] >= top - _ELBO_TIE  # the latest iterate within noise of the best
        best = jax.tree.map(lambda n, o: jnp.where(later, n, o), cand, best)
        new = (trial, ft, -(q @ (qg / a)), jnp.sum(qg**2 / a))
        z, f, step, dec = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, (z, f, step, dec))
        t = jnp.where(ok, jnp.clip(2.0 * t, 1.0 * first, 1.0), 0.25 * t)
        done = (dec < tol) | (t < 1e-12) | (first & ~ok)
        return z, f, step, dec, t, it + 1, done, best, top, elbo_init

    inf = jnp.asarray(jnp.inf, dtype)
    keep0 = jnp.ones(dim, dtype) if structure == "diag" else (jnp.ones(dim, dtype), jnp.eye(dim))
    best = (z0, jax.tree.map(lambda x: x.astype(dtype), keep0), -inf)
    zero = jnp.zeros((), dtype)
    init = (
        z0,
        inf,
        jnp.zeros(dim, dtype),
        inf,
        zero,
        jnp.int32(0),
        jnp.array(False),
        best,
        -inf,
        -inf,
    )
    out = lax.while_loop(lambda c: (c[5] < max_iter) & ~c[6], body, init)
    z, keep, elbo = out[7]
    converged = (out[3] < tol) & jnp.all(z == out[0])
    return z, keep, elbo, out[9], out[5], out[3], converged


def _dense_factor(lam: Array, q: Array) -> tuple[Array, Array]:
    r"""Lower :math:`C` with :math:`CC^\top = |H|^{-1}` and the number of clipped eigenvalues."""
    return laplace_factor(lam, q)


def _diag_factor(hdiag: Array) -> tuple[Array, Array]:
    a, clipped = floor_eigenvalues(hdiag)
    return 1.0 / jnp.sqrt(a), clipped


def _gauss_elbo(u: Callable[[Array], Array], loc: Array, factor: Array, eps: Array) -> Array:
    r""":math:`\mathbb E_q[-U] + \mathcal H[q]` for :math:`q = \mathcal N(loc, CC^\top)`."""
    dim = loc.shape[0]
    if factor.ndim == 2:
        draws, logdet = eps @ factor.T, jnp.sum(jnp.log(jnp.diagonal(factor)))
    else:
        draws, logdet = eps * factor, jnp.sum(jnp.log(factor))
    log_p = -jax.vmap(u)(loc + draws)
    return jnp.mean(log_p) + logdet + 0.5 * dim * (1.0 + jnp.log(2.0 * jnp.pi))


def warm_start(
    u: Callable[[Array], Array],
    z0: Array,
    init_scale: Array,
    eps: Array,
    *,
    structure: str,
    dense_max: int,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> WarmStart:
    """MAP, curvature factor and acceptance check from the start point ``z0`` (traceable).

    Args:
        u: the potential :math:`U` on the flat latent.
        z0: start of the MAP search and centre of the guide's own starting Gaussian, ``(D,)``.
        init_scale: the guide's starting scale :math:`s` (for the check).
        eps: standard normal draws of the check, ``(S, D)`` (drawn on the host: a PRNG
            inside the program would cost more to compile than the rest).
        structure: ``"dense"`` or ``"diag"`` factor.
        dense_max: largest ``D`` for Newton with a dense Hessian.
        max_iter: Newton iterations (L-BFGS gets ten times as many).
        tol: Newton decrement at which the MAP search stops.

    """
    dim, dtype = z0.shape[0], z0.dtype
    if dim <= dense_max:
        z, keep, elbo_lap, elbo_init, iters, dec, converged = _newton(
            u, z0, init_scale, eps, structure, max_iter, tol
        )
        factor, clipped = _dense_factor(*keep) if structure == "dense" else _diag_factor(keep)
    else:
        if structure == "dense":
            raise ValueError(f"warm_start: a dense factor needs D <= dense_max; D = {dim}.")
        z, _, iters = lbfgs_map(u, z0, max_iter=10 * max_iter)
        hdiag = hessian_diagonal(u, z)
        factor, clipped = _diag_factor(hdiag)
        dec = jnp.sum(jax.grad(u)(z) ** 2 * factor**2)
        elbo_lap = _gauss_elbo(u, z, factor, eps)
        elbo_init = _gauss_elbo(u, z0, jnp.full((dim,), init_scale, dtype), eps)
        converged = iters < 10 * max_iter
    finite = jnp.isfinite(elbo_lap) & jnp.all(jnp.isfinite(factor)) & jnp.all(jnp.isfinite(z))
    accepted = finite & ~(elbo_lap < elbo_init)
    converged = converged & (clipped == 0)
    return WarmStart(z, factor, accepted, iters, dec, clipped, elbo_lap, elbo_init, converged)
