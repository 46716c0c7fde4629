r"""``VecchiaGP``: the KL-optimal sparse inverse-Cholesky (Vecchia) GP prior for NumPyro.

For inputs :math:`X` (n points), a kernel :math:`k` and a maximin ordering with sparsity
pattern S (:func:`probapprox.ordering.build_pattern`), the prior of the latent values
:math:`f = (f(x_1), \dots, f(x_n))` is

.. math::
    \hat p(f) = \mathcal N\big(f;\ \mu,\ (UU^\top)^{-1}\big), \qquad
    \log \hat p(f) = \sum_j \log U_{jj} - \tfrac12 \|U^\top (f - \mu)\|^2 - \tfrac n2 \log 2\pi,

where U is the upper-triangular factor on S (in maximin order) that minimises
:math:`\mathrm{KL}(\mathcal N(\mu, \Theta)\,\|\,\mathcal N(\mu, (UU^\top)^{-1}))` with
:math:`\Theta = K(X, X) + \text{nugget}\cdot I`, column by column
(:func:`probapprox.linalg.kl_optimal_columns`). ``log_prob`` costs O(n m) after the
O(n m³) columns; ``sample`` is exact, :math:`f - \mu = U^{-\top}\varepsilon` with
:math:`\varepsilon \sim \mathcal N(0, I)` (one forward sparse sweep, since
:math:`\mathrm{Cov}(U^{-\top}\varepsilon) = U^{-\top}U^{-1} = (UU^\top)^{-1}`). For the dense
pattern (every earlier point a neighbour, e.g. a huge ``rho``) :math:`UU^\top = \Theta^{-1}`
and :math:`\hat p` is the exact GP prior :math:`\mathcal N(\mu, K + \text{nugget}\cdot I)`.

Values are indexed like ``X`` (the original order); the maximin permutation ``pattern.perm``
is applied internally. The pattern is host-side NumPy: build it **once, outside the model**,
and let the model close over it (a ``Pattern`` passed as a model argument also fits, but
``FitResult.save`` cannot store it with the data). Kernel hyperparameters and the mean may be
traced (sampled in the model), so gradients flow to them through the Cholesky factors of the
columns. Float64 (``jax_enable_x64``) is recommended, as for every GP core.

Example:
    >>> import numpyro, probapprox as pa  # doctest: +SKIP
    >>> pattern = pa.ordering.build_pattern(X, lengthscale=0.2, rho=3.0)  # once  # doctest: +SKIP
    >>> def model(X, y=None):  # doctest: +SKIP
    ...     ls = numpyro.sample("lengthscale", dist.LogNormal(-1.5, 0.5))
    ...     kernel = pa.gp.Matern32(lengthscale=ls, variance=1.0)
    ...     f = numpyro.sample("f", pa.gp.VecchiaGP(kernel, X, pattern))
    ...     numpyro.sample("y", dist.Bernoulli(logits=f), obs=y)

References:
    Schäfer, Katzfuss, Owhadi (2021), "Sparse Cholesky factorization by Kullback–Leibler
    minimization", SIAM J. Sci. Comput. 43(3); Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss
    (2023), "Variational sparse inverse Cholesky approximation for latent Gaussian processes
    via double Kullback-Leibler minimization", ICML (arXiv 2301.13303).

"""

from __future__ import annotations

import math
import weakref
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from probapprox.gp._kernels import Kernel
from probapprox.linalg import check_pattern, finite_columns, kl_optimal_columns, rmatvec, solve
from probapprox.ordering import Pattern

__all__ = ["VecchiaGP", "inverse_permutation"]

_LOG_2PI = math.log(2.0 * math.pi)
_MAX_BLOCK_ENTRIES = 1 << 24  # vmap all columns at once while n m^2 stays below this
_INVERSE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_OWNER = "probapprox.gp.VecchiaGP"


def inverse_permutation(pattern: Pattern) -> np.ndarray:
    """``inv`` with ``inv[pattern.perm] = arange(n)``: ``f = f_ordered[inv]``.

    The pattern's ``idx`` is validated on first use; both are cached per pattern object.
    """
    inv = _INVERSE.get(pattern)
    if inv is None:
        check_pattern(f"{_OWNER}(pattern=...)", "pattern.idx", pattern.idx)
        perm = np.asarray(pattern.perm)
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.shape[0], dtype=perm.dtype)
        _INVERSE[pattern] = inv
    return inv


@partial(jax.jit, static_argnames="batch_size")
def _columns(
    kernel: Kernel, X_ord: jax.Array, idx: jax.Array, nugget: Any, *, batch_size: int | None
) -> jax.Array:
    return kl_optimal_columns(kernel, X_ord, idx, nugget, batch_size=batch_size)


@jax.jit
def _log_prob(values: jax.Array, idx: jax.Array, dev: jax.Array) -> jax.Array:
    n = idx.shape[0]
    w = rmatvec(values, idx, dev.reshape(-1, n).T)
    out = jnp.sum(jnp.log(values[:, -1])) - 0.5 * jnp.sum(w**2, axis=0) - 0.5 * n * _LOG_2PI
    return out.reshape(dev.shape[:-1])


@partial(jax.jit, static_argnames="num")
def _sample(
    values: jax.Array, idx: jax.Array, loc: jax.Array, key: jax.Array, *, num: int
) -> jax.Array:
    eps = jax.random.normal(key, (idx.shape[0], num), dtype=values.dtype)
    return loc + solve(values, idx, eps, transpose=True).T


def _concrete(x: Any) -> np.ndarray | None:
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x)


def _check_inputs(X: Any, pattern: Any) -> jax.Array:
    if not isinstance(pattern, Pattern):
        raise TypeError(
            f"{_OWNER}(pattern=...) expects a probapprox.ordering.Pattern; got "
            f"{type(pattern).__name__}. Build it once, outside the model: "
            "pattern = probapprox.ordering.build_pattern(X, lengthscale=..., rho=...)."
        )
    if jnp.ndim(X) != 2:
        raise ValueError(
            f"{_OWNER}(X=...) expects a 2-D array (n points, d dims); got shape {jnp.shape(X)}. "
            "Reshape 1-D inputs with X[:, None]."
        )
    if jnp.shape(X)[0] != pattern.n:
        raise ValueError(
            f"{_OWNER}(pattern=...) was built for n = {pattern.n} points but X has "
            f"{jnp.shape(X)[0]} rows; build it from this X: "
            "probapprox.ordering.build_pattern(X, lengthscale=..., rho=...)."
        )
    host = _concrete(X)
    if host is not None:
        if not np.issubdtype(host.dtype, np.number) or host.dtype == bool:
            raise TypeError(f"{_OWNER}(X=...) expects real numbers; got dtype {host.dtype}.")
        bad = ~np.all(np.isfinite(host), axis=1)
        if bad.any():
            raise ValueError(
                f"{_OWNER}(X=...) contains NaN or inf in {int(bad.sum())} row(s) (first: row "
                f"{int(np.flatnonzero(bad)[0])}). Drop or impute those rows first."
            )
    X = jnp.asarray(X)
    return X.astype(jnp.result_type(X, 1.0))


def _as_mean(mean: Any, n: int, dtype: Any) -> jax.Array:
    if jnp.ndim(mean) not in (0, 1) or (jnp.ndim(mean) == 1 and jnp.shape(mean)[0] != n):
        raise ValueError(
            f"{_OWNER}(mean=...) expects a scalar or an (n,) = ({n},) array in X's order; got "
            f"shape {jnp.shape(mean)}."
        )
    host = _concrete(mean)
    if host is not None and not np.all(np.isfinite(host)):
        raise ValueError(f"{_OWNER}(mean=...) must be finite.")
    return jnp.broadcast_to(jnp.asarray(mean, dtype=jnp.result_type(mean, dtype)), (n,))


def _as_nugget(nugget: Any) -> Any:
    host = _concrete(nugget)
    if host is not None and (host.ndim != 0 or not np.isfinite(host) or host < 0):
        raise ValueError(
            f"{_OWNER}(nugget=...) expects a finite number >= 0; got {nugget!r}. The default "
            "1e-4 keeps the column blocks positive definite with duplicated inputs."
        )
    return nugget


class VecchiaGP(dist.Distribution):
    """KL-optimal Vecchia GP prior ``N(mean, (U Uᵀ)⁻¹)`` over ``f`` indexed like ``X``.

    See the module docstring for the maths. ``event_shape = (n,)``, ``batch_shape = ()``.

    Args:
        kernel: a :class:`probapprox.gp.Kernel` (``Matern12/32/52``, ``RBF``); its
            hyperparameters may be traced (sampled in the model).
        X: ``(n, d)`` inputs in the original order (the order of ``f`` and of the data).
        pattern: :func:`probapprox.ordering.build_pattern` of this ``X``, computed once
            outside the model (its lengthscale only shapes the neighbourhoods; the kernel's
            may differ). ``rho`` large (or ``num_neighbors=n``) gives the exact GP prior.
        mean: scalar or ``(n,)`` prior mean in X's order (may be traced).
        nugget: jitter added to the kernel diagonal (the default 1e-4 follows Cao et al.).
        batch_size: columns per ``lax.map`` chunk when computing U (default: all at once
            while n m² ≤ 2²⁴, else chunks of that many entries).
        validate_args: NumPyro's argument validation flag.

    Raises:
        TypeError: ``kernel`` or ``pattern`` of the wrong type, or non-numeric ``X``.
        ValueError: ``X`` not ``(n, d)``, containing NaN/inf, or with ``n`` different from
            the pattern's; a bad ``mean`` or ``nugget``; or (with concrete hyperparameters) a
            column block that is not positive definite (the message names the point).

    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True
    pytree_data_fields = ("kernel", "X", "loc", "nugget", "precision_values")
    pytree_aux_fields = ("pattern",)

    def __init__(
        self,
        kernel: Kernel,
        X: Any,
        pattern: Pattern,
        mean: Any = 0.0,
        nugget: Any = 1e-4,
        *,
        batch_size: int | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(kernel, Kernel):
            raise TypeError(
                f"{_OWNER}(kernel=...) expects a probapprox.gp kernel (Matern12, Matern32, "
                f"Matern52, RBF); got {type(kernel).__name__}."
            )
        X = _check_inputs(X, pattern)
        n, d = X.shape
        if jnp.ndim(kernel.lengthscale) == 1 and jnp.shape(kernel.lengthscale)[0] != d:
            raise ValueError(
                f"{_OWNER}(kernel=...) has {jnp.shape(kernel.lengthscale)[0]} ARD lengthscales "
                f"but X has d = {d} columns."
            )
        self.kernel, self.X, self.pattern = kernel, X, pattern
        self.loc = _as_mean(mean, n, X.dtype)
        self.nugget = _as_nugget(nugget)
        m = pattern.max_neighbors
        if batch_size is None and n * m * m > _MAX_BLOCK_ENTRIES:
            batch_size = max(1, _MAX_BLOCK_ENTRIES // (m * m))
        inverse_permutation(pattern)  # validates the pattern once
        self.precision_values = _columns(
            kernel, X[pattern.perm], pattern.idx, self.nugget, batch_size=batch_size
        )
        self._check_columns()
        super().__init__(batch_shape=(), event_shape=(n,), validate_args=validate_args)

    def _check_columns(self) -> None:
        ok = _concrete(self.precision_values)
        if ok is None:
            return  # traced: a failed block gives NaN, reported by the caller (e.g. pa.fit)
        ok = np.asarray(finite_columns(ok))
        if not ok.all():
            j = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"{_OWNER}: the kernel block of {int((~ok).sum())} column(s) is not positive "
                f"definite (first: X row {int(self.pattern.perm[j])}); increase nugget (now "
                f"{self.nugget!r}) or remove duplicated inputs."
            )

    # ------------------------------------------------------------------------------------
    @property
    def mean(self) -> jax.Array:
        """The prior mean ``(n,)`` in X's order."""
        return self.loc

    @property
    def ordered_mean(self) -> jax.Array:
        """The prior mean in maximin order (aligned with ``precision_values``)."""
        return self.loc[self.pattern.perm]

    def _to_ordered(self, value: jax.Array) -> jax.Array:
        return jnp.asarray(value)[..., self.pattern.perm]

    def _from_ordered(self, value: jax.Array) -> jax.Array:
        return value[..., inverse_permutation(self.pattern)]

    def log_prob(self, value: jax.Array) -> jax.Array:
        r""":math:`\sum_j \log U_{jj} - \tfrac12\|U^\top(f-\mu)\|^2 - \tfrac n2\log 2\pi`, O(n m).

        ``value`` is ``(..., n)`` in X's order; returns the batch shape ``(...)``.
        """
        n = self.event_shape[0]
        if jnp.shape(value)[-1:] != (n,):
            shape = jnp.shape(value)
            raise ValueError(f"{_OWNER}.log_prob expects values of shape (..., {n}); got {shape}.")
        dev = self._to_ordered(value) - self.ordered_mean
        return _log_prob(self.precision_values, self.pattern.idx, dev)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        r"""Draws :math:`\mu + U^{-\top}\varepsilon` (forward sweep), ``(*sample_shape, n)``."""
        n = self.event_shape[0]
        num = math.prod(sample_shape)
        f = _sample(self.precision_values, self.pattern.idx, self.ordered_mean, key, num=num)
        return self._from_ordered(f).reshape(tuple(sample_shape) + (n,))

    def rsample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Reparameterised draws (same as :meth:`sample`)."""
        return self.sample(key, sample_shape)

    def entropy(self) -> jax.Array:
        r"""Entropy :math:`\tfrac n2(1 + \log 2\pi) - \sum_j \log U_{jj}`."""
        n = self.event_shape[0]
        return 0.5 * n * (1.0 + _LOG_2PI) - jnp.sum(jnp.log(self.precision_values[:, -1]))
