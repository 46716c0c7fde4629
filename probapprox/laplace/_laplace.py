"""The fitted :class:`Laplace` posterior: logits pushforward, samples, marglik, prior tuning."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from probapprox._checks import check_choice, check_int
from probapprox._random import standard_normal
from probapprox.laplace._jacobians import Jacobians
from probapprox.laplace._marglik import log_marglik, maximise
from probapprox.laplace._network import FlatModel, batch_indices, check_data, to_device
from probapprox.laplace._tuning import grid_nll

__all__ = ["Laplace", "prior_vector"]

# Jitted at module level over pytree arguments, so one compile serves every fit of a shape.
_factorize = jax.jit(lambda curv, dvec, scalar: curv.factor(dvec, scalar=scalar), static_argnums=2)
_covariance = jax.jit(lambda factor: factor.covariance())
_precision = jax.jit(lambda curv, dvec: curv.precision(dvec))
_log_marglik = jax.jit(log_marglik, static_argnames=("scalar",))


@functools.partial(jax.jit, static_argnums=(3,))
def _draw(factor: Any, theta: Array, key: Array, n: int) -> Array:
    r"""``n`` rows :math:`\theta_* + S z`, :math:`z \sim \mathcal N(0, I)` (Box–Muller)."""
    z = standard_normal(key, (theta.shape[0], n), theta.dtype)
    return theta[None, :] + factor.sqrt_apply(z).T


@functools.partial(jax.jit, static_argnums=(0, 5))
def _logit_moments(
    f: Callable, theta: Array, inputs: Array, idx: Array, factor: Any, n: int
) -> tuple[Array, Array]:
    r"""Logits ``(n, C)`` and :math:`J\Sigma J^\top` ``(n, C, C)`` (``factor.logit_cov``).

    Computed over the batches ``idx``; their padding rows are dropped.
    """

    def one(i: Array) -> tuple[Array, Array]:
        xb = inputs[i]
        return f(theta, xb), factor.logit_cov(Jacobians(f, theta, xb))

    mean, cov = jax.lax.map(one, idx)
    c = mean.shape[-1]
    return mean.reshape(-1, c)[:n], cov.reshape(-1, c, c)[:n]


def _check_grid(owner: str, grid: Any, dtype: Any) -> Array:
    grid = jnp.asarray(grid, dtype)
    if grid.ndim != 1 or grid.shape[0] == 0 or not bool(jnp.all(grid > 0)):
        raise ValueError(f"{owner}(grid=...) must be a 1-D array of positive values.")
    return grid


def prior_vector(owner: str, value: Any, num_groups: int, dtype: Any) -> Array:
    """Coerce a scalar or per-group prior precision to a positive ``(num_groups,)`` array."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(num_groups, float(arr))
    if arr.shape != (num_groups,) or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(
            f"{owner}(prior_precision=...) expects a positive scalar or {num_groups} positive "
            f"values (one per prior group); got {value!r}."
        )
    return jnp.asarray(arr, dtype)


@dataclasses.dataclass(frozen=True, eq=False)
class Laplace:
    r"""Gaussian posterior :math:`\mathcal N(\theta_*, (G + D)^{-1})` from :func:`fit_laplace`.

    Attributes:
        model: The flat model (``model.theta`` is :math:`\theta_*`, ``model.unravel`` its pytree).
        curv: The curvature structure (``Full``, ``Diag``, ``LowRank`` or ``Kron``).
        prior_precision: One :math:`\delta` per prior group, shape ``(G,)``.
        group_index: Prior group of each flat parameter; ``group_names`` names them.
        nll_map: :math:`-\log p(\mathcal D \mid \theta_*)`.
        num_clipped: Negative Hessian eigenvalues clipped at 0 (``curvature="hessian"``).

    """

    model: FlatModel
    curv: Any
    likelihood: str
    curvature: str
    structure: str
    subset: str
    prior_precision: Array
    group_index: np.ndarray
    group_names: tuple[str, ...]
    nll_map: Array
    num_data: int
    num_clipped: int
    batch_size: int

    @functools.cached_property
    def _factor(self) -> Any:
        """The structure's square root; from the eigendecomposition for one shared delta."""
        delta = np.asarray(self.prior_precision)
        scalar = bool(np.all(delta == delta[0]))
        return _factorize(self.curv, self.prior_precision[self.group_index], scalar)

    @property
    def params_map(self) -> Any:
        """The MAP as a pytree (the last layer ``{"W", "b"}`` for ``subset="last_layer"``)."""
        return self.model.unravel(self.model.theta)

    def posterior_precision(self) -> Array:
        """Dense posterior precision ``(P, P)`` (for checks; avoid for large ``P``)."""
        return _precision(self.curv, self.prior_precision[self.group_index])

    def posterior_covariance(self) -> Array:
        """Dense posterior covariance ``(P, P)`` from the structure's factor."""
        return _covariance(self._factor)

    def with_prior_precision(self, prior_precision: float | Array) -> Laplace:
        """Return a copy with another prior precision (scalar or one per group)."""
        delta = prior_vector(
            "Laplace.with_prior_precision", prior_precision, len(self.group_names),
            self.model.theta.dtype,
        )  # fmt: skip
        return dataclasses.replace(self, prior_precision=delta)

    def log_marginal_likelihood(self, prior_precision: float | Array | None = None) -> Array:
        r"""Laplace log evidence (see :mod:`probapprox.laplace._marglik`).

        :math:`\log p(\mathcal D\mid\theta_*)
        - \frac12[\log|P| - \log|P_0| + \theta_*^\top P_0\theta_*]`.

        Args:
            prior_precision: Scalar or per-group :math:`\delta`; default the current one.
                Differentiable when passed as a JAX array of shape ``(G,)`` or ``()``.

        """
        if prior_precision is None:
            delta = self.prior_precision
        else:
            delta = jnp.broadcast_to(jnp.asarray(prior_precision), (len(self.group_names),))
        scalar = prior_precision is not None and jnp.ndim(prior_precision) == 0
        return _log_marglik(
            self.curv, self.model.theta, self.group_index, self.nll_map, delta, scalar=scalar
        )

    def logits(self, X_new: Any, *, batch_size: int | None = None) -> tuple[Array, Array]:
        r"""Linearised (GLM) Gaussian over logits at ``X_new``.

        :math:`f(x) \approx f(x;\theta_*) + J(\theta-\theta_*)`, so
        :math:`f \sim \mathcal N(f(x;\theta_*), J\Sigma J^\top)`, computed as
        :math:`(S^\top J^\top)^\top(S^\top J^\top)` with the structure's square root
        :math:`S S^\top = \Sigma`; KFAC uses its Kronecker closed form per layer and ``full``
        with one shared :math:`\delta` uses :math:`G = Q\Lambda Q^\top` (no triangular solve).

        Returns:
            ``mean`` of shape ``(N, C)`` and ``cov`` of shape ``(N, C, C)``.

        """
        inputs = self.model.to_inputs(to_device(X_new))
        bs = self.batch_size if batch_size is None else batch_size
        bs = check_int("Laplace.logits", "batch_size", bs)
        n = inputs.shape[0]
        idx, _ = batch_indices(n, bs)
        return _logit_moments(self.model.f, self.model.theta, inputs, idx, self._factor, n)

    def sample(self, key: Array, n: int) -> Any:
        r"""Draw ``n`` parameter pytrees :math:`\theta_* + S z`, :math:`z \sim \mathcal N(0, I)`.

        Returns the pytree of :attr:`params_map` with a leading axis of size ``n``.
        """
        n = check_int("Laplace.sample", "n", n)
        draws = _draw(self._factor, self.model.theta, key, n)
        return jax.vmap(self.model.unravel)(draws)

    def optimize_prior_precision(
        self,
        method: str = "marglik",
        *,
        structure: str = "scalar",
        X_val: Any = None,
        y_val: Any = None,
        grid: Any = None,
        num_steps: int = 100,
        learning_rate: float = 0.1,
    ) -> Laplace:
        r"""Tune the prior precision; return a new :class:`Laplace` (``self`` is unchanged).

        Args:
            method: ``"marglik"`` (maximise :meth:`log_marginal_likelihood` over
                :math:`\log\delta`; Adam then Newton) or ``"grid"`` (minimise the validation
                NLL of the mean-field predictive over ``grid``, scalar only).
            structure: ``"scalar"`` (one :math:`\delta`) or ``"layerwise"`` (one per group).
            X_val: Validation inputs (``grid``).
            y_val: Validation labels (``grid``).
            grid: Candidate precisions; default ``jnp.logspace(-4, 4, 100)``.
            num_steps: Adam steps for ``marglik``.
            learning_rate: Adam learning rate for ``marglik``.

        """
        owner = "Laplace.optimize_prior_precision"
        check_choice(owner, "method", method, ("marglik", "grid"))
        check_choice(owner, "structure", structure, ("scalar", "layerwise"))
        num_groups = len(self.group_names)
        dt = self.model.theta.dtype
        if method == "marglik":
            num_steps = check_int(owner, "num_steps", num_steps, minimum=0)
            scalar = structure == "scalar"
            # host arithmetic on a handful of numbers: no eager XLA programs to compile
            delta0 = np.asarray(self.prior_precision, np.float64)
            x0 = np.log(np.mean(delta0))[None] if scalar else np.log(delta0)
            x = maximise(
                to_device(x0.astype(dt)), self.curv, self.model.theta,
                to_device(self.group_index),
                self.nll_map, scalar=scalar, num_steps=num_steps,
                learning_rate=float(learning_rate),
            )  # fmt: skip
            delta = np.broadcast_to(np.exp(np.asarray(x)), (num_groups,))
            return dataclasses.replace(self, prior_precision=to_device(delta.astype(dt)))
        if structure != "scalar":
            raise ValueError(f"{owner}(method='grid') supports structure='scalar' only.")
        if X_val is None or y_val is None:
            raise ValueError(f"{owner}(method='grid') needs X_val=... and y_val=...")
        grid = jnp.logspace(-4, 4, 100, dtype=dt) if grid is None else _check_grid(owner, grid, dt)
        losses = self.grid_nll(X_val, y_val, grid)
        best = grid[jnp.argmin(jnp.where(jnp.isfinite(losses), losses, jnp.inf))]
        return dataclasses.replace(self, prior_precision=jnp.full((num_groups,), best))

    def grid_nll(self, X_val: Any, y_val: Any, grid: Any) -> Array:
        r"""Validation NLL of the mean-field predictive for each shared :math:`\delta` of ``grid``.

        :math:`-\sum_n \log\operatorname{softmax}_{y_n}\big(\mu_n/\sqrt{1 + \tfrac\pi8
        \operatorname{diag}(J_n (G + \delta I)^{-1} J_n^\top)}\big)` (sigmoid for one logit),
        for all :math:`\delta` in one pass over the validation Jacobians (see
        :mod:`probapprox.laplace._tuning`).

        Args:
            X_val: Validation inputs.
            y_val: Validation labels.
            grid: Positive prior precisions, shape ``(K,)``; each is shared by all groups.

        Returns:
            The summed validation NLL for each grid value, shape ``(K,)``.

        """
        X_val, y_val = check_data(X_val, y_val, self.likelihood)
        grid = _check_grid("Laplace.grid_nll", grid, self.model.theta.dtype)
        inputs = self.model.to_inputs(X_val)
        idx, mask = batch_indices(inputs.shape[0], self.batch_size)
        return grid_nll(
            self.model.f, self.likelihood, self.curv, self.model.theta, inputs, y_val, idx,
            mask.astype(grid.dtype), grid,
        )  # fmt: skip
