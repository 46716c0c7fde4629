"""Host-side checks of the inputs of :class:`probapprox.gp.LatentGP` (before any ``jit``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from probapprox._checks import check_int

__all__ = ["check_data", "check_inputs", "check_lengthscale", "check_schedule"]


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


def check_data(owner: str, kernel: Any, lik: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a fit as float64 arrays: finite ``(n, d)`` inputs, one valid y per row."""
    Xh = check_inputs(owner, "X", X)
    n, d = Xh.shape
    check_lengthscale(owner, kernel, d)
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != n:
        raise ValueError(
            f"{owner}(y=...) must be a 1-d array with one value per row of X ({n}); "
            f"got shape {y_arr.shape}."
        )
    yh = np.asarray(lik.validate_y(y_arr), dtype=np.float64)
    if n < 2:
        raise ValueError(f"{owner}(X=...) needs at least 2 points; got {n}.")
    return Xh, yh


def check_schedule(
    owner: str,
    n: int,
    num_epochs: Any,
    batch_size: Any,
    seed: Any,
    stages: Any,
    *,
    learn: bool,
) -> tuple[int, int, tuple[int, ...]]:
    """``(batch_size, seed, stages)`` checked; default stages ``(⌈E/6⌉, rest)`` when learning."""
    num_epochs = check_int(owner, "num_epochs", num_epochs)
    batch_size = min(check_int(owner, "batch_size", batch_size), n)
    seed = check_int(owner, "seed", seed, minimum=0)
    if stages is None:
        first = -(-num_epochs // 6)
        stages = (first, num_epochs - first) if learn and num_epochs > 1 else (num_epochs,)
    stages = tuple(check_int(owner, "stages", s, minimum=0) for s in stages)
    return batch_size, seed, stages
