"""``GPData``: the training data of a sparse latent-GP fit in maximin order, with its pattern."""

from __future__ import annotations

from typing import NamedTuple

import jax

__all__ = ["GPData"]


class GPData(NamedTuple):
    """The training data in maximin order with its pattern (a pytree of arrays).

    Attributes:
        X: ``(n, d)`` inputs.
        y: ``(n,)`` observations.
        idx: ``(n, m)`` padded pattern (rows ascending, j last, front-padded with -1).
        anc: ``(n, a)`` padded ancestor sets (``idx`` itself for the mean-field family).

    """

    X: jax.Array
    y: jax.Array
    idx: jax.Array
    anc: jax.Array
