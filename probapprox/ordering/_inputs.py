"""Argument checks for the ordering and pattern builders (NumPy only).

Every public function validates its inputs here, so a bad argument raises a ValueError or
TypeError that names the function, the argument and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from probapprox._checks import check_int, check_positive

__all__ = [
    "as_ell",
    "as_points",
    "optional_int",
    "positive",
    "required_int",
    "scaled_points",
]

_PREFIX = "probapprox.ordering."


def as_points(func: str, name: str, x: Any) -> np.ndarray:
    """``x`` as a C-contiguous float64 ``(n, d)`` array with n, d >= 1 and finite entries."""
    owner = _PREFIX + func
    if isinstance(x, list | tuple):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray) and not hasattr(x, "__array__"):
        raise TypeError(f"{owner}({name}=...) expects an array of shape (n, d); got {type(x)}.")
    arr = np.asarray(x)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{owner}({name}=...) expects real numbers; got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(
            f"{owner}({name}=...) expects a 2-D array (n points, d dims); got shape "
            f"{arr.shape}. Reshape 1-D inputs with {name}[:, None]."
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"{owner}({name}=...) needs at least one point and one column; got shape {arr.shape}."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"{owner}({name}=...) contains NaN or inf in {rows.size} row(s) (first: row "
            f"{rows[0]}). Drop or impute those rows first."
        )
    return arr


def _lengthscale(func: str, lengthscale: Any, d: int) -> np.ndarray:
    owner = _PREFIX + func
    if lengthscale is None:
        return np.ones(d)
    ls = np.asarray(lengthscale, dtype=np.float64)
    if ls.ndim == 0:
        ls = np.full(d, float(ls))
    if ls.shape != (d,):
        raise ValueError(
            f"{owner}(lengthscale=...) must be a scalar or have one entry per column of X "
            f"({d}); got shape {np.shape(lengthscale)}."
        )
    if not (np.all(np.isfinite(ls)) and np.all(ls > 0)):
        raise ValueError(
            f"{owner}(lengthscale=...) must be finite and positive; got {np.asarray(lengthscale)}."
        )
    return ls


def scaled_points(func: str, name: str, x: Any, lengthscale: Any) -> np.ndarray:
    """Validated ``x / lengthscale`` (scalar or ARD vector; ``None`` means 1)."""
    arr = as_points(func, name, x)
    ls = _lengthscale(func, lengthscale, arr.shape[1])
    return np.ascontiguousarray(arr / ls)


def as_ell(func: str, ell: Any, n: int) -> np.ndarray:
    """``ell`` as a float64 vector of length ``n`` with entries in ``[0, inf]``."""
    owner = _PREFIX + func
    arr = np.asarray(ell, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(
            f"{owner}(ell=...) must have shape ({n},), one maximin distance per point of "
            f"X_ordered; got shape {arr.shape}."
        )
    if np.isnan(arr).any() or (arr < 0).any():
        raise ValueError(
            f"{owner}(ell=...) must be non-negative and not NaN; pass the ell returned by "
            "maximin_order."
        )
    return arr


def positive(func: str, name: str, value: Any) -> float:
    """A finite positive float (e.g. ``rho``)."""
    return check_positive(_PREFIX + func, name, value)


def required_int(func: str, name: str, value: Any, minimum: int = 1) -> int:
    """An integer >= ``minimum``."""
    return check_int(_PREFIX + func, name, value, minimum)


def optional_int(func: str, name: str, value: Any, minimum: int = 1) -> int | None:
    """``None`` or an integer >= ``minimum``."""
    if value is None:
        return None
    return check_int(_PREFIX + func, name, value, minimum)
