r"""Checks of the padded sparsity-pattern format (host side, on concrete arrays only).

The format: ``idx (n, m)`` int, row j lists the row indices of column j's nonzeros,
ascending, with ``j`` itself last (``idx[j, -1] == j``) and padded at the front with -1.
Ancestor sets ``anc (n, a)`` use the same format and must contain the pattern:
:math:`S_j \subseteq A_j`.

These checks run in plain NumPy before tracing. Under ``jax.jit`` an index array passed as
an argument is a tracer and cannot be checked; the checks then return without looking
(shapes are still checked by the callers, since shapes are static).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["check_pattern", "check_subset", "check_cols", "concrete_or_none"]


def concrete_or_none(x: Any) -> np.ndarray | None:
    """``np.asarray(x)`` for a concrete array, ``None`` for a tracer (inside ``jit``)."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def check_pattern(owner: str, name: str, idx: Any) -> None:
    """Raise ValueError unless ``idx`` is a valid padded pattern (see the module docstring).

    Args:
        owner: the public function being called (for the message).
        name: the argument's name (for the message).
        idx: the pattern, ``(n, m)`` integers.

    """
    shape = np.shape(idx)
    if len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"{owner}({name}=...) expects a 2-d (n, m) index array; got {shape}.")
    arr = concrete_or_none(idx)
    if arr is None:
        return
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{owner}({name}=...) expects integer indices; got dtype {arr.dtype}.")
    n = shape[0]
    if not np.array_equal(arr[:, -1], np.arange(n)):
        bad = int(np.flatnonzero(arr[:, -1] != np.arange(n))[0])
        raise ValueError(
            f"{owner}({name}=...): row j must end with j itself (the diagonal is the last slot); "
            f"row {bad} ends with {int(arr[bad, -1])}. Sort each row ascending with j last and "
            "pad at the front with -1."
        )
    if arr.min() < -1:
        raise ValueError(f"{owner}({name}=...): entries must be >= -1 (-1 marks padding).")
    mask = arr >= 0
    if np.any(mask[:, 1:] < mask[:, :-1]):
        bad = int(np.flatnonzero(np.any(mask[:, 1:] < mask[:, :-1], axis=1))[0])
        raise ValueError(
            f"{owner}({name}=...): padding (-1) must be at the front of each row; row {bad} "
            f"is {arr[bad].tolist()}."
        )
    both = mask[:, 1:] & mask[:, :-1]
    if np.any(both & (arr[:, 1:] <= arr[:, :-1])):
        bad = int(np.flatnonzero(np.any(both & (arr[:, 1:] <= arr[:, :-1]), axis=1))[0])
        raise ValueError(
            f"{owner}({name}=...): each row must be strictly ascending (no repeats); row {bad} "
            f"is {arr[bad].tolist()}."
        )


def check_subset(owner: str, idx: Any, anc: Any) -> None:
    """Raise ValueError unless every pattern row ``idx[j]`` is contained in ``anc[j]``."""
    if np.shape(idx)[0] != np.shape(anc)[0]:
        raise ValueError(
            f"{owner}(idx=..., anc=...): idx has {np.shape(idx)[0]} rows but anc has "
            f"{np.shape(anc)[0]}; both need one row per column j."
        )
    s, a = concrete_or_none(idx), concrete_or_none(anc)
    if s is None or a is None:
        return
    n = s.shape[0]
    base = np.arange(n, dtype=np.int64)[:, None] * (n + 1)
    keys_s = (base + s + 1)[s >= 0]
    keys_a = (base + a + 1)[a >= 0]
    missing = ~np.isin(keys_s, keys_a)
    if np.any(missing):
        key = int(keys_s[np.flatnonzero(missing)[0]])
        j, i = divmod(key, n + 1)
        raise ValueError(
            f"{owner}(anc=...): the ancestor set of column {j} lacks pattern entry {i - 1}; "
            "anc[j] must contain idx[j] (S_j ⊆ A_j)."
        )


def check_cols(owner: str, cols: Any, n: int) -> None:
    """Raise ValueError unless ``cols`` is 1-d with (when concrete) entries in ``[0, n)``."""
    if np.ndim(cols) != 1:
        raise ValueError(
            f"{owner}(cols=...) expects a 1-d array of column indices; got shape {np.shape(cols)}."
        )
    arr = concrete_or_none(cols)
    if arr is not None and arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(
            f"{owner}(cols=...) entries must lie in [0, {n}); got min {arr.min()}, max "
            f"{arr.max()}. JAX would silently clamp out-of-range indices."
        )
