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
from probapprox.laplace._marglik import log_marglik, maximise
from probapprox.laplace._model import FlatModel, batch_indices, check_data
from probapprox.laplace._tuning import grid_search, mean_field_nll

__all__ = ["Laplace", "prior_vector"]

# Jitted at module level over pytree arguments, so one compile serves every fit of a shape.
_factorize = jax.jit(lambda curv, dvec: curv.factor(dvec))
_covariance = jax.jit(lambda factor: factor.covariance())
_precision = jax.jit(lambda curv, dvec: curv.precision(dvec))
_log_marglik = jax.jit(log_marglik, static_argnames=("scalar",))
_draw = jax.jit(lambda factor, theta, z: theta[None, :] + factor.sqrt_apply(z).T)


@functools.partial(jax.jit, static_argnums=(0,))
def _logit_cov(f: Callable, theta: Array, inputs: Array, idx: Array, factor: Any) -> Array:
    r"""Per-example :math:`(S^\top J^\top)^\top (S^\top J^\top)` over batches ``idx``."""

    def f1(th: Array, x: Array) -> Array:
        return f(th, x[None])[0]

    def cov_batch(i: Array) -> Array:
        jac = jax.vmap(jax.jacrev(f1), (None, 0))(theta, inputs[i])  # (B, C, P)
        b, c, p = jac.shape
        st = factor.sqrt_t_apply(jac.reshape(b * c, p).T).T.reshape(b, c, p)
        return jnp.einsum("bcp,bdp->bcd", st, st)

    return jax.lax.map(cov_batch, idx)


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
        return _factorize(self.curv, self.prior_precision[self.group_index])

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
        :math:`S S^\top = \Sigma` (closed form for last-layer KFAC).

        Returns:
            ``mean`` of shape ``(N, C)`` and ``cov`` of shape ``(N, C, C)``.

        """
        inputs = self.model.to_inputs(jnp.asarray(X_new))
        theta, factor = self.model.theta, self._factor
        mean = self.model.f(theta, inputs)
        if self.structure == "kron" and self.subset == "last_layer":
            ones = jnp.ones((inputs.shape[0], 1), inputs.dtype)
            return mean, factor.last_layer_logit_cov(jnp.concatenate([inputs, ones], axis=1))
        bs = self.batch_size if batch_size is None else batch_size
        bs = check_int("Laplace.logits", "batch_size", bs)
        idx, _ = batch_indices(inputs.shape[0], bs)
        cov = _logit_cov(self.model.f, theta, inputs, idx, factor)
        c = mean.shape[1]
        return mean, cov.reshape(-1, c, c)[: inputs.shape[0]]

    def sample(self, key: Array, n: int) -> Any:
        r"""Draw ``n`` parameter pytrees :math:`\theta_* + S z`, :math:`z \sim \mathcal N(0, I)`.

        Returns the pytree of :attr:`params_map` with a leading axis of size ``n``.
        """
        n = check_int("Laplace.sample", "n", n)
        theta = self.model.theta
        z = jax.random.normal(key, (theta.shape[0], n), theta.dtype)
        draws = _draw(self._factor, theta, z)
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
            if structure == "scalar":
                x0 = jnp.log(jnp.mean(self.prior_precision))[None]

                def fn(x: Array) -> Array:
                    return self.log_marginal_likelihood(jnp.exp(x[0]))
            else:
                x0 = jnp.log(self.prior_precision)

                def fn(x: Array) -> Array:
                    return self.log_marginal_likelihood(jnp.exp(x))

            x = maximise(fn, x0.astype(dt), num_steps=num_steps, learning_rate=learning_rate)
            delta = jnp.broadcast_to(jnp.exp(x), (num_groups,))
            return dataclasses.replace(self, prior_precision=delta)
        if structure != "scalar":
            raise ValueError(f"{owner}(method='grid') supports structure='scalar' only.")
        if X_val is None or y_val is None:
            raise ValueError(f"{owner}(method='grid') needs X_val=... and y_val=...")
        X_val, y_val = check_data(X_val, y_val, self.likelihood)
        grid = jnp.logspace(-4, 4, 100, dtype=dt) if grid is None else jnp.asarray(grid, dt)
        if grid.ndim != 1 or not bool(jnp.all(grid > 0)):
            raise ValueError(f"{owner}(grid=...) must be a 1-D array of positive values.")

        def loss(d: Array) -> Array:
            lap = dataclasses.replace(self, prior_precision=jnp.full((num_groups,), d))
            mean, cov = lap.logits(X_val)
            return mean_field_nll(mean, cov, y_val, self.likelihood)

        best, _ = grid_search(jax.jit(loss), grid)
        return dataclasses.replace(self, prior_precision=jnp.full((num_groups,), best))
