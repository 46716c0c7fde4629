"""Static facts of a model (site types, supports, plate sizes) from one abstract trace.

Several checks of :func:`probapprox.fit` read only static facts off a seeded trace of the
model: which latent sites are discrete, which plates subsample and their sizes. Run eagerly,
that trace draws from the prior, and every distribution's sampler compiles its own program
(a ``Beta`` draw compiles a gamma rejection sampler: 1.3 s on a 2-core CPU, more than the
rest of a small model's fit). :func:`read_trace` runs the trace under
:func:`jax.eval_shape` instead, where nothing is computed or compiled, and hands it to a
reader that returns plain Python data. A model whose Python control flow needs concrete
values (``if y.sum() > 0:``) cannot be traced abstractly and is traced eagerly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers

__all__ = ["read_trace"]


def read_trace[T](model: Callable, args: tuple, kwargs: dict, read: Callable[[dict], T]) -> T:
    """``read(trace)`` for one trace of ``model`` seeded with 0, abstract where possible.

    ``read`` must return static data only (names, ints, strings): inside the abstract trace
    every value is a tracer, which may not escape. Errors of the model itself come from the
    eager trace, so they are the model's own.
    """
    box: list[Any] = []
    leaves, treedef = jax.tree.flatten((args, kwargs))
    dynamic = [i for i, x in enumerate(leaves) if isinstance(x, np.ndarray | jax.Array)]

    def run(arrays: list) -> jax.Array:
        # array arguments are traced, as under SVI's jit (so `y[idx]` indexes a traced array)
        full = list(leaves)
        for i, a in zip(dynamic, arrays, strict=True):
            full[i] = a
        a, kw = jax.tree.unflatten(treedef, full)
        box.append(read(handlers.trace(handlers.seed(model, 0)).get_trace(*a, **kw)))
        return jnp.zeros(())

    try:
        jax.eval_shape(run, [leaves[i] for i in dynamic])
        return box[0]
    except Exception:  # noqa: BLE001 - needs concrete values (or fails): trace eagerly
        pass
    return read(handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs))
