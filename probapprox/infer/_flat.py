r"""The model's flat unconstrained latent space, as a guide lays it out.

NumPyro's autoguides keep the unconstrained initial value of every latent site in
``guide._init_locs`` (insertion order = model order); ``AutoContinuous`` guides ravel them in
that order into one vector :math:`z \in \mathbb R^D`. :class:`FlatLatent` reproduces the layout
so that a point, a shift or a diagonal scale in :math:`\mathbb R^D` can be split back into
sites, and builds the potential

.. math::
    U(z) = -\log p\big(x, T(z)\big) - \log\big|\det \partial T(z)\big|,

the negative log joint density of the unconstrained latent (:math:`T` the constraining
bijections), whose minimiser is the MAP and whose Hessian is the Laplace precision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.util import potential_energy

from probapprox.potential import prior_draws, unpack_flat

__all__ = ["FlatLatent", "flat_latent", "prior_points"]


class FlatLatent(NamedTuple):
    """Layout of the flat unconstrained latent.

    Attributes:
        shapes: site name -> shape of its unconstrained value, in model order.
        init: the guide's initial point, shape ``(D,)``.

    """

    shapes: dict[str, tuple[int, ...]]
    init: jax.Array

    @property
    def dim(self) -> int:
        """``D``."""
        return int(self.init.shape[0])

    def unpack(self, z: jax.Array) -> dict[str, jax.Array]:
        """Split ``z (D,)`` into ``{site: value}``."""
        return unpack_flat(z, self.shapes)

    def potential(
        self, model: Callable, args: tuple, kwargs: dict
    ) -> Callable[[jax.Array], jax.Array]:
        """``U(z)`` for fixed model arguments (traceable; pass traced data to keep it dynamic)."""

        def u(z: jax.Array) -> jax.Array:
            return potential_energy(model, args, kwargs, self.unpack(z))

        return u


def flat_latent(guide: Any) -> FlatLatent | None:
    """The layout of an initialised NumPyro autoguide, or ``None`` for other guides."""
    locs = getattr(guide, "_init_locs", None)
    if not isinstance(locs, dict) or not locs:
        return None
    shapes = {name: tuple(np.shape(v)) for name, v in locs.items()}
    init = jnp.concatenate([jnp.ravel(jnp.asarray(v)) for v in locs.values()])
    return FlatLatent(shapes, init)


def prior_points(
    model: Callable, flat: FlatLatent, args: tuple, kwargs: dict, seed: int, num: int
) -> np.ndarray | None:
    """``num`` draws from the model's prior as flat unconstrained points, ``(num, D)``.

    :func:`probapprox.potential.prior_draws` in the guide's layout: ``None`` when the prior
    cannot be sampled or a draw is not finite, an empty array for ``num == 0``.
    """
    return prior_draws(model, args, kwargs, flat.shapes, seed, num)
