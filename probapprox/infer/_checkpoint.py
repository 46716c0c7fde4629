"""Checkpoints of the full loop state, for bit-exact resume.

A checkpoint is one ``.npz`` file: every leaf of the loop state (optimiser
state including step counts, mutable state, RNG key, failure bookkeeping) in
tree order, the losses so far, and a JSON header. The tree structure itself
is not stored: on resume it is rebuilt by initialising the same model and
guide, and the stored leaves are checked against it (count, shapes, dtypes).
Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from probapprox.infer._mesh import host_value

__all__ = ["CheckpointMismatch", "write_checkpoint", "read_checkpoint"]

_FORMAT = "probapprox-checkpoint-1"


class CheckpointMismatch(ValueError):
    """A checkpoint file does not belong to the fit being resumed."""


def write_checkpoint(path: str | os.PathLike, carry: Any, losses: np.ndarray, header: dict) -> None:
    """Atomically write ``carry`` (any pytree of arrays) and ``losses`` to ``path``."""
    path = Path(path)
    leaves = [host_value(x) for x in jax.tree.leaves(carry)]  # scale hook: gather across processes
    if jax.process_index() != 0:  # scale hook: process 0 writes
        return
    head = dict(header, format=_FORMAT, num_leaves=len(leaves))
    arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, header=np.array(json.dumps(head)), losses=np.asarray(losses), **arrays)
    os.replace(tmp, path)


def read_checkpoint(path: str | os.PathLike, template: Any, expect: dict) -> tuple[Any, np.ndarray]:
    """Read a checkpoint into the structure of ``template``.

    Args:
        path: the checkpoint file.
        template: a loop state of the same fit, e.g. freshly initialised.
        expect: header entries that must match (e.g. seed, num_steps, guide).

    Returns:
        ``(carry, losses)``.

    Raises:
        CheckpointMismatch: if the header or the leaves do not match.

    """
    with np.load(path, allow_pickle=False) as data:
        head = json.loads(str(data["header"]))
        if head.get("format") != _FORMAT:
            raise CheckpointMismatch(f"{path} is not a probapprox checkpoint.")
        for key, value in expect.items():
            if head.get(key) != value:
                raise CheckpointMismatch(
                    f"Checkpoint {path} was written with {key}={head.get(key)!r}, but this fit "
                    f"has {key}={value!r}. Use a new checkpoint path, or pass resume=False to "
                    "start over and overwrite it."
                )
        leaves, treedef = jax.tree.flatten(template)
        if head["num_leaves"] != len(leaves):
            raise CheckpointMismatch(
                f"Checkpoint {path} holds {head['num_leaves']} state arrays; this fit has "
                f"{len(leaves)}. The model, guide or optimiser differ from the checkpointed fit."
            )
        new = []
        for i, ref in enumerate(leaves):
            arr = data[f"leaf_{i}"]
            if arr.shape != np.shape(ref) or arr.dtype != np.asarray(ref).dtype:
                raise CheckpointMismatch(
                    f"Checkpoint {path}: state array {i} has shape {arr.shape} {arr.dtype}, "
                    f"expected {np.shape(ref)} {np.asarray(ref).dtype}. The model, guide or "
                    "optimiser differ from the checkpointed fit."
                )
            new.append(jax.numpy.asarray(arr))
        losses = np.array(data["losses"])
    return jax.tree.unflatten(treedef, new), losses
