"""Argument handling shared by the logit predictives and the metrics.

Shape and dtype problems are static and always raise. Value checks (finiteness, signs,
label ranges, row sums) need concrete arrays: they run on ordinary (numpy or JAX) arrays
and are skipped for tracers, i.e. inside ``jax.jit``/``vmap``/``grad``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["GaussianLogits", "as_array", "as_gaussian", "is_concrete", "split_cov"]


class GaussianLogits(NamedTuple):
    """A validated Gaussian over logits.

    Attributes:
        mean: ``(..., C)`` means.
        cov_or_var: ``(..., C)`` variances or ``(..., C, C)`` covariances.
        full: whether ``cov_or_var`` holds covariances (a static flag).

    """

    mean: jax.Array
    cov_or_var: jax.Array
    full: bool


def split_cov(cov_or_var: jax.Array, *, full: bool) -> tuple[jax.Array, jax.Array | None]:
    """``(var, cov)``: the variances (the diagonal when ``full``) and the covariance or None."""
    if full:
        return jnp.diagonal(cov_or_var, axis1=-2, axis2=-1), cov_or_var
    return cov_or_var, None


def is_concrete(*xs: Any) -> bool:
    """True when no argument is a JAX tracer (so its values can be inspected)."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def as_array(owner: str, name: str, x: Any) -> jax.Array:
    """``jnp.asarray(x)``, refusing Python lists and tuples (pass an array explicitly)."""
    if isinstance(x, list | tuple):
        raise ValueError(
            f"{owner}({name}=...) expects an array; got a {type(x).__name__}. "
            f"Wrap it in jnp.asarray(...) first."
        )
    return jnp.asarray(x)


def _all_finite(x: jax.Array) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x))))


def as_gaussian(owner: str, mean: Any, cov_or_var: Any) -> GaussianLogits:
    """Validate ``mean (..., C)`` and ``cov_or_var`` (``(..., C)`` or ``(..., C, C)``).

    Args:
        owner: the public function's name, used in messages.
        mean: logit means.
        cov_or_var: variances with the shape of ``mean``, or covariances with one more
            trailing axis of size C.

    Returns:
        The validated :class:`GaussianLogits`, in a common floating dtype.

    Raises:
        ValueError: on shapes that fit neither reading, fewer than two classes, and (for
            concrete inputs) non-finite values or negative variances.

    """
    mean = as_array(owner, "mean", mean)
    cov_or_var = as_array(owner, "cov_or_var", cov_or_var)
    dtype = jnp.result_type(mean, cov_or_var, 1.0)
    mean, cov_or_var = jnp.asarray(mean, dtype), jnp.asarray(cov_or_var, dtype)
    if mean.ndim < 1 or mean.shape[-1] < 2:
        raise ValueError(
            f"{owner}(mean=...) expects shape (..., C) with C >= 2 classes; got {mean.shape}."
        )
    n = mean.shape[-1]
    if cov_or_var.shape == mean.shape:
        full = False
    elif cov_or_var.shape == (*mean.shape, n):
        full = True
    else:
        raise ValueError(
            f"{owner}(cov_or_var=...) must have the shape of mean {mean.shape} (variances) "
            f"or {(*mean.shape, n)} (covariances); got {cov_or_var.shape}."
        )
    if is_concrete(mean, cov_or_var):
        if not _all_finite(mean):
            raise ValueError(f"{owner}(mean=...) contains non-finite values (nan or inf).")
        if not _all_finite(cov_or_var):
            raise ValueError(f"{owner}(cov_or_var=...) contains non-finite values (nan or inf).")
        var = host_variances(GaussianLogits(mean, cov_or_var, full))
        if bool(np.any(var < 0)):
            raise ValueError(
                f"{owner}(cov_or_var=...) has a negative variance (min {float(np.min(var))!r}); "
                f"variances must be >= 0."
            )
    return GaussianLogits(mean, cov_or_var, full)


def host_variances(g: GaussianLogits) -> np.ndarray:
    """The variances as a numpy array (concrete inputs only; no device computation)."""
    x = np.asarray(g.cov_or_var)
    return np.diagonal(x, axis1=-2, axis2=-1) if g.full else x
