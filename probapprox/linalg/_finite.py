"""The finite-step guard shared by the SVI loop and the latent-GP trainer.

A gradient step is taken only when the loss and every gradient leaf are finite; callers keep
their state otherwise (and count or report the step). One definition, so that "finite" means
the same thing in :mod:`probapprox.infer` and :mod:`probapprox.gp`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["finite_step"]


def finite_step(loss: jax.Array, grads: Any) -> tuple[jax.Array, jax.Array]:
    """``(ok, leaf_ok)``: whether a step with this loss and gradient pytree may be applied.

    Args:
        loss: the scalar loss of the step.
        grads: a pytree of gradient arrays.

    Returns:
        ``leaf_ok``: ``(L,)`` bool, per leaf of ``grads`` (in ``jax.tree.leaves`` order; one
        ``True`` for an empty tree) whether every entry is finite; ``ok``: the loss is finite
        and every leaf is.

    """
    leaves = [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]
    leaf_ok = jnp.stack(leaves or [jnp.array(True)])
    return jnp.isfinite(loss) & jnp.all(leaf_ok), leaf_ok
