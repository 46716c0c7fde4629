"""Checkpoints of the full loop state, for bit-exact resume.

A checkpoint is one ``.npz`` file: every leaf of the loop state (optimiser
state including step counts, mutable state, RNG key, failure bookkeeping) in
tree order, the losses so far, and a JSON header. The tree structure itself
is not stored: on resume it is rebuilt by initialising the same model and
guide, and the stored leaves are checked against it (count, shapes, dtypes).
The header also holds the fit's signature (see :mod:`._validate`): a fingerprint of
the model's arguments and the model's sample sites (names, shapes, distributions,
supports, log density at a fixed point), so a resume with other data or another model
is refused. Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from probapprox.infer._mesh import host_value
from probapprox.infer._pytree_io import NotAProbapproxFile, read_npz, write_npz

__all__ = [
    "CheckpointMismatch",
    "CheckpointPath",
    "check_checkpoint_file",
    "write_checkpoint",
    "read_checkpoint",
]

_FORMAT = "probapprox-checkpoint-1"
_WHAT = "a probapprox checkpoint (written by probapprox.fit(checkpoint=...))"
_START_OVER = "Use a new checkpoint path, or pass resume=False to start over and overwrite it."


class CheckpointMismatch(ValueError):
    """A checkpoint file does not belong to the fit being resumed."""


class CheckpointPath(os.PathLike):
    """A checkpoint path that carries the fit's signature (header entries to store and check).

    Args:
        path: the file.
        signature: JSON-able header entries, compared on resume.

    """

    def __init__(self, path: str | os.PathLike, signature: dict[str, Any]) -> None:
        self.path = os.fspath(path)
        self.signature = signature

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"CheckpointPath({self.path!r})"


def _signature(path: Any) -> dict[str, Any]:
    return dict(getattr(path, "signature", None) or {})


def check_checkpoint_file(path: str | os.PathLike, *, resume: bool) -> None:
    """Refuse (before fitting) a file at ``path`` that is not a probapprox checkpoint.

    With ``resume=False`` an existing checkpoint is overwritten, but any other file is
    refused too: it may be the user's data.
    """
    if not resume and Path(path).stat().st_size == 0:
        return  # an empty placeholder (e.g. from tempfile.mkstemp) holds nothing to lose
    try:
        read_npz(path, _FORMAT, _WHAT)
    except NotAProbapproxFile as err:
        act = "resume from" if resume else "overwrite"
        raise NotAProbapproxFile(
            f"probapprox.fit(checkpoint=...) will not {act} this file: {err} Delete it or "
            "choose another checkpoint path."
        ) from None


def write_checkpoint(path: str | os.PathLike, carry: Any, losses: np.ndarray, header: dict) -> None:
    """Atomically write ``carry`` (any pytree of arrays) and ``losses`` to ``path``."""
    leaves = [host_value(x) for x in jax.tree.leaves(carry)]  # scale hook: gather across processes
    if jax.process_index() != 0:  # scale hook: process 0 writes
        return
    head = dict(header, **_signature(path), format=_FORMAT, num_leaves=len(leaves))
    arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
    write_npz(path, {"losses": np.asarray(losses), **arrays}, head)


def _site_difference(old: list, new: list) -> str:
    by_name = {s["name"]: s for s in old}
    for s in new:
        o = by_name.get(s["name"])
        if o is None:
            return f"site {s['name']!r} is new"
        for key in ("observed", "distribution", "shape", "support"):
            if o.get(key) != s.get(key):
                return f"site {s['name']!r} had {key} {o.get(key)!r}, now {s.get(key)!r}"
    gone = sorted(set(by_name) - {s["name"] for s in new})
    return f"site(s) {gone} are gone" if gone else "the sites differ"


def _check_signature(path: Any, head: dict) -> None:
    for key, value in _signature(path).items():
        old = head.get(key)
        if old == value:
            continue
        if old is None:
            why = "was written without a fingerprint of the model and data (older probapprox)"
        elif key == "data_fingerprint":
            why = "was written for other data: the model's arguments differ from this fit's"
        elif key == "model_sites":
            why = f"was written for another model: {_site_difference(old, value)}"
        else:
            why = (
                f"was written for another model: its log density at a fixed point was "
                f"{old}, this model's is {value} (e.g. a prior or likelihood changed)"
            )
        raise CheckpointMismatch(f"Checkpoint {os.fspath(path)} {why}. {_START_OVER}")


def read_checkpoint(path: str | os.PathLike, template: Any, expect: dict) -> tuple[Any, np.ndarray]:
    """Read a checkpoint into the structure of ``template``.

    Args:
        path: the checkpoint file (a :class:`CheckpointPath` also checks its signature).
        template: a loop state of the same fit, e.g. freshly initialised.
        expect: header entries that must match (e.g. seed, num_steps, guide).

    Returns:
        ``(carry, losses)``.

    Raises:
        NotAProbapproxFile: if the file is not a complete probapprox checkpoint.
        CheckpointMismatch: if the header, the signature or the leaves do not match.

    """
    head, data = read_npz(path, _FORMAT, _WHAT)
    name = os.fspath(Path(path))
    for key, value in expect.items():
        if head.get(key) != value:
            raise CheckpointMismatch(
                f"Checkpoint {name} was written with {key}={head.get(key)!r}, but this fit "
                f"has {key}={value!r}. {_START_OVER}"
            )
    _check_signature(path, head)
    leaves, treedef = jax.tree.flatten(template)
    if (
        head.get("num_leaves") != len(leaves)
        or any(f"leaf_{i}" not in data for i in range(len(leaves)))
        or "losses" not in data
    ):
        raise CheckpointMismatch(
            f"Checkpoint {name} holds {head.get('num_leaves')} state arrays; this fit has "
            f"{len(leaves)}. The model, guide or optimiser differ from the checkpointed fit."
        )
    new = []
    for i, ref in enumerate(leaves):
        arr = data[f"leaf_{i}"]
        if arr.shape != np.shape(ref) or arr.dtype != np.asarray(ref).dtype:
            raise CheckpointMismatch(
                f"Checkpoint {name}: state array {i} has shape {arr.shape} {arr.dtype}, "
                f"expected {np.shape(ref)} {np.asarray(ref).dtype}. The model, guide or "
                "optimiser differ from the checkpointed fit."
            )
        new.append(jax.numpy.asarray(arr))
    return jax.tree.unflatten(treedef, new), data["losses"]
