"""Plain-data encoding of nested containers of arrays (no pickle).

Nested ``dict`` (string keys) / ``list`` / ``tuple`` / ``None`` / ``bool`` /
``int`` / ``float`` / ``str`` / array values are encoded as a JSON-able
structure in which every array is replaced by a reference into a flat
``{key: numpy.ndarray}`` store, suitable for :func:`numpy.savez`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NotEncodable", "encode", "decode"]

_ARRAY = "__array__"
_TUPLE = "__tuple__"


class NotEncodable(TypeError):
    """Raised when a value cannot be stored as plain data."""


def encode(obj: Any, store: dict[str, np.ndarray], prefix: str) -> Any:
    """Encode ``obj``, writing its arrays into ``store`` under keys starting with ``prefix``.

    Raises:
        NotEncodable: for objects other than the supported containers and leaves.

    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "__array__") and hasattr(obj, "shape") and hasattr(obj, "dtype"):
        key = f"{prefix}{len(store)}"
        store[key] = np.asarray(obj)
        return {_ARRAY: key}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise NotEncodable("only dictionaries with string keys can be stored")
        return {"__dict__": {k: encode(v, store, prefix) for k, v in obj.items()}}
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return {_TUPLE: [encode(v, store, prefix) for v in obj]}
    if isinstance(obj, list):
        return [encode(v, store, prefix) for v in obj]
    raise NotEncodable(f"cannot store a value of type {type(obj).__name__} as plain data")


def decode(obj: Any, store: Any) -> Any:
    """Invert :func:`encode` given the array ``store`` (a mapping, e.g. an ``NpzFile``)."""
    if isinstance(obj, list):
        return [decode(v, store) for v in obj]
    if isinstance(obj, dict):
        if _ARRAY in obj:
            return np.asarray(store[obj[_ARRAY]])
        if _TUPLE in obj:
            return tuple(decode(v, store) for v in obj[_TUPLE])
        return {k: decode(v, store) for k, v in obj["__dict__"].items()}
    return obj
