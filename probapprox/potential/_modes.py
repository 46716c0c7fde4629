r"""Local maxima of a log density from several starts, merged, each with its Laplace Gaussian.

Every start runs :func:`~._newton.newton_map` (one ``vmap``-ed program; L-BFGS and the
Hessian diagonal above ``dense_max``). A search that converged to a point where every
curvature eigenvalue is positive is a local maximum of :math:`-U`. Two maxima
:math:`z_i, z_j` are the same when they are closer than ``merge_tol`` posterior standard
deviations in the Mahalanobis distance of either one's floored curvature,

.. math::
    \min\big(\delta^\top |H_i|\,\delta,\ \delta^\top |H_j|\,\delta\big) < \texttt{merge\_tol}^2,
    \qquad \delta = z_i - z_j ,

(default ``merge_tol = 0.5``: Newton converges to :math:`10^{-6}` sd, and distinct modes of
a posterior are separated by well over one sd). Each maximum carries the Laplace Gaussian
:math:`\mathcal N(z_*, |H|^{-1})` (factor :math:`C`, :math:`CC^\top = |H|^{-1}`, from a QR of
:math:`\mathrm{diag}(a^{-1/2})Q^\top`, never squaring the condition number) and its Laplace
log mass :math:`-U(z_*) + \tfrac D2\log 2\pi - \tfrac12\sum_i\log a_i`, the log evidence of the
mode (mixture weights :math:`\propto` its exponent).

Reference: MacKay (2003), "Information Theory, Inference, and Learning Algorithms", ch. 27
(Laplace's method); Nocedal & Wright (2006), ch. 3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from probapprox.linalg import floor_eigenvalues
from probapprox.potential._newton import hessian_diagonal, lbfgs_map, newton_map

__all__ = ["Mode", "ModeSearch", "find_modes", "laplace_factor", "MERGE_TOL"]

Potential = Callable[[Array], Array]
MERGE_TOL = 0.5
CONVERGED_DECREMENT = 1e-8


def laplace_factor(evals: Array, evecs: Array, min_eigenvalue: float | None = None) -> tuple:
    r"""``(C, num_clipped)``: lower triangular :math:`C` with :math:`CC^\top = |H|^{-1}`.

    :math:`|H|^{-1} = B^\top B` with :math:`B = \mathrm{diag}(a^{-1/2})Q^\top = Q_2R`, so
    :math:`C = R^\top` (signs fixed to a positive diagonal).
    """
    a, clipped = floor_eigenvalues(evals, min_eigenvalue)
    r = jnp.linalg.qr((evecs / jnp.sqrt(a)).T, mode="r")
    return (r * jnp.sign(jnp.diagonal(r))[:, None]).T, clipped


@dataclass(frozen=True)
class Mode:
    r"""One local maximum of the log density (host arrays).

    Attributes:
        loc: :math:`z_*`, ``(D,)``.
        log_density: :math:`-U(z_*)`.
        curvature: the floored :math:`|H|` as ``(a, Q)`` (dense) or its diagonal ``a`` (D,).
        scale_tril: Laplace factor :math:`C`, ``(D, D)``, or the marginal sds, ``(D,)``.
        log_mass: Laplace log evidence of the mode.
        num_clipped: curvature eigenvalues at or below the floor.
        count: searches that ended here.

    """

    loc: np.ndarray
    log_density: float
    curvature: tuple[np.ndarray, np.ndarray] | np.ndarray
    scale_tril: np.ndarray
    log_mass: float
    num_clipped: int
    count: int = 1

    @property
    def cov(self) -> np.ndarray:
        """Laplace covariance :math:`|H|^{-1}`."""
        c = self.scale_tril
        return c @ c.T if c.ndim == 2 else np.diag(c**2)

    def sq_distance(self, z: np.ndarray) -> float:
        """Squared Mahalanobis distance of ``z`` from the mode under :math:`|H|`."""
        d = np.asarray(z) - self.loc
        if isinstance(self.curvature, tuple):
            a, q = self.curvature
            return float(np.sum(a * (q.T @ d) ** 2))
        return float(np.sum(self.curvature * d**2))


@dataclass(frozen=True)
class ModeSearch:
    """Result of :func:`find_modes`.

    Attributes:
        modes: distinct local maxima, highest log density first.
        ends: where each search ended, ``(M, D)``.
        values: :math:`U` there, ``(M,)`` (``inf`` where not finite).
        converged: per search, whether it converged to a maximum.
        starts: the start points, ``(M, D)``.
        dense: whether curvatures are dense (Newton) or diagonal (L-BFGS).

    """

    modes: list[Mode]
    ends: np.ndarray
    values: np.ndarray
    converged: np.ndarray
    starts: np.ndarray
    dense: bool
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Mode | None:
        """The mode with the highest log density (``None`` when no search converged)."""
        return self.modes[0] if self.modes else None


def _dense_search(u: Potential, starts: Array, max_iter: int, min_eigenvalue: float | None) -> Any:
    def one(z0: Array) -> tuple:
        res = newton_map(u, z0, max_iter=max_iter, min_eigenvalue=min_eigenvalue)
        factor, clipped = laplace_factor(res.evals, res.evecs, min_eigenvalue)
        a, _ = floor_eigenvalues(res.evals, min_eigenvalue)
        return res, factor, clipped, a

    return jax.jit(jax.vmap(one))(starts)


def _diag_search(u: Potential, starts: Array, max_iter: int, min_eigenvalue: float | None) -> Any:
    def one(z0: Array) -> tuple:
        z, f, iters = lbfgs_map(u, z0, max_iter=max_iter)
        hd = hessian_diagonal(u, z)
        a, clipped = floor_eigenvalues(hd, min_eigenvalue)
        g = jax.grad(u)(z)
        return z, f, hd, a, clipped, jnp.sum(g**2 / a), iters

    return jax.jit(jax.vmap(one))(starts)


def find_modes(
    potential: Potential,
    starts: np.ndarray,
    *,
    dense_max: int = 200,
    max_iter: int = 100,
    merge_tol: float = MERGE_TOL,
    min_eigenvalue: float | None = None,
) -> ModeSearch:
    """Run a MAP search from every start and merge the maxima found.

    Args:
        potential: :math:`U` on ``R^D`` (traceable), e.g. ``ModelPotential.potential``.
        starts: start points, ``(M, D)``.
        dense_max: largest ``D`` for Newton with a dense Hessian (else L-BFGS, diagonal).
        max_iter: Newton iterations (L-BFGS gets ten times as many).
        merge_tol: Mahalanobis distance (in sds) below which two maxima are one.
        min_eigenvalue: a fixed curvature floor.

    """
    starts = np.asarray(starts, dtype=float)
    dim = starts.shape[1]
    dense = dim <= dense_max
    z0 = jnp.asarray(starts)
    if dense:
        res, factor, clipped, a = jax.device_get(
            _dense_search(potential, z0, max_iter, min_eigenvalue)
        )
        ends, values, dec = np.asarray(res.loc), np.asarray(res.value), np.asarray(res.decrement)
        evals = np.asarray(res.evals)
        curv = [(np.asarray(a[i]), np.asarray(res.evecs[i])) for i in range(len(starts))]
        scales = np.asarray(factor)
    else:
        z, f, hd, a, clipped, dec, _ = jax.device_get(
            _diag_search(potential, z0, 10 * max_iter, min_eigenvalue)
        )
        ends, values, dec, evals = np.asarray(z), np.asarray(f), np.asarray(dec), np.asarray(hd)
        curv = [np.asarray(a[i]) for i in range(len(starts))]
        scales = 1.0 / np.sqrt(np.asarray(a))
    finite = np.isfinite(values) & np.all(np.isfinite(ends), axis=1)
    converged = finite & (dec < CONVERGED_DECREMENT) & np.all(evals > 0, axis=1)
    values = np.where(finite, values, np.inf)
    modes: list[Mode] = []
    for i in np.argsort(values):
        if not converged[i]:
            continue
        loc = ends[i]
        match = next(
            (k for k, m in enumerate(modes) if min(
                m.sq_distance(loc), _sq(curv[i], loc - m.loc)
            ) < merge_tol**2),
            None,
        )  # fmt: skip
        if match is not None:
            m = modes[match]
            modes[match] = Mode(m.loc, m.log_density, m.curvature, m.scale_tril, m.log_mass,
                                m.num_clipped, m.count + 1)  # fmt: skip
            continue
        a_i = curv[i][0] if dense else curv[i]
        log_mass = -values[i] + 0.5 * dim * np.log(2 * np.pi) - 0.5 * np.sum(np.log(a_i))
        modes.append(Mode(loc, float(-values[i]), curv[i], scales[i], float(log_mass),
                          int(clipped[i])))  # fmt: skip
    return ModeSearch(modes, ends, values, converged, starts, dense)


def _sq(curv: tuple | np.ndarray, d: np.ndarray) -> float:
    if isinstance(curv, tuple):
        a, q = curv
        return float(np.sum(a * (q.T @ d) ** 2))
    return float(np.sum(curv * d**2))
