"""Plain-data encoding of nested containers of arrays (no pickle).

Nested ``dict`` (string keys) / ``list`` / ``tuple`` / ``None`` / ``bool`` /
``int`` / ``float`` / ``str`` / array values are encoded as a JSON-able
structure in which every array is replaced by a reference into a flat
``{key: numpy.ndarray}`` store, suitable for :func:`numpy.savez`.

:func:`write_npz` writes such a store atomically (temporary file in the same folder, then
``os.replace``), and :func:`read_npz` reads one back, refusing anything that is not a file
written by probapprox (empty, truncated, text, a foreign ``.npz``, another kind of
probapprox file) with one error type, :class:`NotAProbapproxFile`.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NotAProbapproxFile",
    "NotEncodable",
    "check_output_path",
    "encode",
    "decode",
    "read_npz",
    "write_npz",
]

_ARRAY = "__array__"
_TUPLE = "__tuple__"


class NotAProbapproxFile(ValueError):
    """A file is not one probapprox wrote, or not the kind expected.

    Raised for empty, truncated, corrupt or text files, a foreign ``.npz``, and e.g. a
    checkpoint passed to :func:`probapprox.load`.
    """


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


_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError)


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], header: dict) -> None:
    """Atomically write ``arrays`` and the JSON ``header`` to ``path`` (no pickled code).

    The data go to ``<path>.tmp`` in the same folder, are flushed to disk, and the file is
    renamed over ``path`` with :func:`os.replace`, so ``path`` always holds either the old
    complete file or the new complete file, also when the process is killed mid-write.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, header=np.array(json.dumps(header)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _as_npz(data: Any, path: Path, what: str) -> Any:
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise NotAProbapproxFile(f"{str(path)!r} is a single .npy array, not {what}.")
    return data


def read_npz(path: str | os.PathLike, fmt: str, what: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a file written by :func:`write_npz` whose header has ``format == fmt``.

    Args:
        path: the file.
        fmt: the expected ``header["format"]``.
        what: how the caller names the file in messages (e.g. ``"a fit saved by
            FitResult.save"``).

    Returns:
        ``(header, arrays)`` with every array read into memory.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotAProbapproxFile: anything else that is not such a complete file.

    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {str(path)!r} (expected {what}).")
    if path.is_dir():
        raise NotAProbapproxFile(f"{str(path)!r} is a directory, not {what}.")
    size = path.stat().st_size
    if size == 0:
        raise NotAProbapproxFile(f"{str(path)!r} is empty (0 bytes), not {what}.")
    try:
        with open(path, "rb") as fh, _as_npz(np.load(fh, allow_pickle=False), path, what) as data:
            if "header" not in data.files:
                raise NotAProbapproxFile(
                    f"{str(path)!r} is a .npz archive without a probapprox header (arrays "
                    f"{sorted(data.files)[:5]}), not {what}."
                )
            header = json.loads(str(data["header"]))
            if not isinstance(header, dict) or header.get("format") != fmt:
                found = header.get("format") if isinstance(header, dict) else None
                raise NotAProbapproxFile(
                    f"{str(path)!r} has format {found!r}, not {what} (format {fmt!r})."
                )
            arrays = {k: np.array(data[k]) for k in data.files if k != "header"}
    except NotAProbapproxFile:
        raise
    except _READ_ERRORS as err:
        raise NotAProbapproxFile(
            f"{str(path)!r} ({size} bytes) cannot be read as {what}: it is truncated, "
            f"corrupt or not a probapprox file ({type(err).__name__}: {err})."
        ) from err
    return header, arrays


def check_output_path(owner: str, arg: str, value: Any, example: str) -> Path:
    """``value`` as the path of a file to write, checked before any work is done.

    Args:
        owner: the function the argument belongs to, for the messages.
        arg: the argument's name.
        value: what the caller passed.
        example: a file name to suggest when ``value`` is a folder.

    Raises:
        TypeError: not a ``str`` or ``os.PathLike``.
        IsADirectoryError: an existing folder.
        FileNotFoundError: its folder does not exist.
        PermissionError: its folder is not writable.

    """
    if not isinstance(value, str | os.PathLike):
        raise TypeError(
            f"{owner}({arg}=...) expects a file path (str or os.PathLike); got "
            f"{type(value).__name__}."
        )
    path = Path(value)
    label = f"{owner}({arg}={str(path)!r})"
    if path.is_dir():
        raise IsADirectoryError(
            f"{label} is a directory; pass a file path inside it, e.g. {str(path / example)!r}."
        )
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{label}: the folder {str(folder)!r} does not exist. Create it first (the path is "
            "checked before any work, so nothing is lost)."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{label}: the folder {str(folder)!r} is not writable. Choose a path in a writable "
            "folder."
        )
    return path
