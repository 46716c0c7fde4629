"""Host-side checks of the inputs of :class:`probapprox.gp.LatentGP` (before any ``jit``)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_inputs", "check_lengthscale"]


def check_inputs(owner: str, name: str, X: Any, d: int | None = None) -> np.ndarray:
    """``X`` as a finite float64 ``(n, d)`` array (1-d input is read as ``(n, 1)``).

    Raises:
        ValueError: wrong rank, wrong number of columns, empty, or non-finite entries.

    """
    arr = np.asarray(X)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{owner}({name}=...) expects numbers; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{owner}({name}=...) expects an (n, d) array; got shape {arr.shape}.")
    if d is not None and arr.shape[1] != d:
        raise ValueError(
            f"{owner}({name}=...) must have {d} columns like the training inputs; got "
            f"{arr.shape[1]}."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"{owner}({name}=...): {int(bad.any(axis=1).sum())} row(s) hold NaN or inf, the "
            f"first is row {row}; drop or impute them before fitting."
        )
    return arr


def check_lengthscale(owner: str, kernel: Any, d: int) -> None:
    """The kernel's lengthscale must be a scalar or have one entry per input column."""
    size = int(np.size(np.asarray(kernel.lengthscale)))
    if size not in (1, d):
        raise ValueError(
            f"{owner}(kernel=...): the kernel has {size} ARD lengthscales but X has {d} "
            "columns; give one lengthscale per column or a scalar."
        )
