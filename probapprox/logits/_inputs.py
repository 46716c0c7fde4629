r"""Argument handling shared by the logit predictives and the metrics.

Shape and dtype problems are static and always raise. Value checks (finiteness, signs,
label ranges, row sums) need concrete arrays: they run on ordinary (numpy or JAX) arrays
and are skipped for tracers, i.e. inside ``jax.jit``/``vmap``/``grad``.

Full covariances are checked to be symmetric and positive semi-definite, with the
tolerance :math:`\tau = \sqrt{\epsilon}` of their dtype (1.5e-8 in float64, 3.5e-4 in
float32) relative to the largest variance :math:`s = \max_i C_{ii}` of each matrix:
:math:`\max_{ij} |C_{ij} - C_{ji}| \le \tau s` and
:math:`\lambda_{\min}(\tfrac12(C + C^\top)) \ge -\tau s`. When the eigenvalues would cost
more than ``_MAX_EIG_WORK`` (N·C³ flops) only the necessary 2×2 condition
:math:`C_{ij}^2 \le (1 + \tau) C_{ii} C_{jj}` is checked.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["GaussianLogits", "as_array", "as_gaussian", "is_concrete", "split_cov"]

_MAX_EIG_WORK = 1e9


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
        if full:
            _check_psd(owner, np.asarray(cov_or_var))
    return GaussianLogits(mean, cov_or_var, full)


def _at(idx: tuple[int, ...]) -> str:
    return f" (matrix at batch index {idx})" if idx else ""


def _check_psd(owner: str, cov: np.ndarray) -> None:
    """Refuse asymmetric or indefinite covariances (see the module docstring)."""
    n = cov.shape[-1]
    c = cov.reshape(-1, n, n).astype(np.float64)
    tol = float(np.sqrt(np.finfo(cov.dtype).eps))
    scale = np.maximum(np.max(np.diagonal(c, axis1=-2, axis2=-1), axis=-1), np.finfo(float).tiny)
    asym = np.max(np.abs(c - np.swapaxes(c, -1, -2)), axis=(-2, -1))
    bad = asym > tol * scale
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{owner}(cov_or_var=...) is not symmetric{_at(_index(k, cov))}: max |C - Cᵀ| = "
            f"{asym[k]:.3g} exceeds the tolerance {tol:.2g} x max variance {scale[k]:.3g}. "
            "Symmetrise it, (C + Cᵀ)/2, or pass the right matrix."
        )
    if c.shape[0] * float(n) ** 3 <= _MAX_EIG_WORK:
        low = np.linalg.eigvalsh(0.5 * (c + np.swapaxes(c, -1, -2)))[:, 0]
        bad = low < -tol * scale
        what = "smallest eigenvalue"
    else:
        d = np.diagonal(c, axis1=-2, axis2=-1)
        excess = np.max(c**2 - (1 + tol) * d[:, :, None] * d[:, None, :], axis=(-2, -1))
        bad, low, what = excess > 0, -excess, "2x2 principal minor"
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{owner}(cov_or_var=...) is not positive semi-definite{_at(_index(k, cov))}: "
            f"its {what} is {low[k]:.3g} < -{tol:.2g} x max variance {scale[k]:.3g}. A "
            "covariance must be PSD: clip negative eigenvalues or add jitter to the diagonal."
        )


def _index(k: int, cov: np.ndarray) -> tuple[int, ...]:
    batch = cov.shape[:-2]
    return tuple(int(i) for i in np.unravel_index(k, batch)) if batch else ()


def host_variances(g: GaussianLogits) -> np.ndarray:
    """The variances as a numpy array (concrete inputs only; no device computation)."""
    x = np.asarray(g.cov_or_var)
    return np.diagonal(x, axis1=-2, axis2=-1) if g.full else x
