"""Split model arguments into traced arrays and static Python values.

Array-valued leaves of ``(args, kwargs)`` are passed to jitted functions as
arguments (so large data are not baked into the compiled program as
constants); everything else (Python scalars, strings, ``None``, callables) is
closed over, as NumPyro's ``SVI.run`` does, so that models may use them for
shapes and control flow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = ["split_args"]


def _is_dynamic(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array | np.ndarray) and np.ndim(leaf) > 0


def split_args(
    args: tuple, kwargs: dict
) -> tuple[list[Any], Callable[[list[Any]], tuple[tuple, dict]]]:
    """Return ``(dynamic_leaves, rebuild)`` with ``rebuild(dynamic_leaves) == (args, kwargs)``."""
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    mask = [_is_dynamic(leaf) for leaf in leaves]
    dynamic = [leaf for leaf, m in zip(leaves, mask, strict=True) if m]
    static = [None if m else leaf for leaf, m in zip(leaves, mask, strict=True)]

    def rebuild(dyn: list[Any]) -> tuple[tuple, dict]:
        it = iter(dyn)
        full = [next(it) if m else s for s, m in zip(static, mask, strict=True)]
        return jax.tree_util.tree_unflatten(treedef, full)

    return dynamic, rebuild
