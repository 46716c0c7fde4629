r"""The flat unconstrained log density of a NumPyro model, without a guide.

For a model with continuous latent sites :math:`\theta = T(z)` (:math:`T` NumPyro's
constraining bijections, ``biject_to(site.support)``) the flat latent :math:`z \in \mathbb
R^D` concatenates the unconstrained sites in model order (the order NumPyro's
``AutoContinuous`` guides use), and the potential is

.. math::
    U(z) = -\log p\big(x, T(z)\big) - \log\big|\det \partial T(z)\big| ,

whose minimisers are the MAPs of the unconstrained posterior and whose Hessian is the
Laplace precision (NumPyro's ``potential_energy``). Start points for a MAP search come from
the prior (unconstrained prior draws) or, for improper priors, from a ladder of radii.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.initialization import init_to_median
from numpyro.infer.util import potential_energy

__all__ = [
    "ModelPotential",
    "model_potential",
    "dispersed_starts",
    "nonfinite_site",
    "prior_draws",
]

# radii of the uniform cubes that starts are drawn from when the prior cannot be sampled
# (NumPyro's own init_to_uniform uses 2; wider cubes reach modes far from the origin)
START_RADII = (2.0, 5.0, 10.0)


def unpack_flat(z: jax.Array, shapes: dict[str, tuple[int, ...]]) -> dict[str, jax.Array]:
    """Split a flat vector ``z (D,)`` into ``{site: value}`` by ``shapes``, in their order."""
    out, pos = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=int))
        out[name] = jnp.reshape(z[pos : pos + size], shape)
        pos += size
    return out


class ModelPotential(NamedTuple):
    """A NumPyro model's flat unconstrained latent and its potential :math:`U`.

    Attributes:
        model: the model.
        args: its positional arguments.
        kwargs: its keyword arguments.
        shapes: latent site -> shape of its unconstrained value, in model order.
        init: NumPyro's ``init_to_median`` point, flat, ``(D,)``.
        supports: latent site -> its support (constraint).
        proper: whether the prior can be sampled (no ``ImproperUniform`` latent site).

    """

    model: Callable
    args: tuple
    kwargs: dict
    shapes: dict[str, tuple[int, ...]]
    init: np.ndarray
    supports: dict
    proper: bool

    @property
    def dim(self) -> int:
        """``D``."""
        return int(self.init.shape[0])

    def unpack(self, z: jax.Array) -> dict[str, jax.Array]:
        """Split ``z (D,)`` into ``{site: unconstrained value}``."""
        return unpack_flat(z, self.shapes)

    def potential(self, z: jax.Array) -> jax.Array:
        """:math:`U(z)` (traceable)."""
        return potential_energy(self.model, self.args, self.kwargs, self.unpack(z))

    def log_density(self, z: jax.Array) -> jax.Array:
        """:math:`-U(z)`."""
        return -self.potential(z)


def _latent_sites(tr: Any) -> list[str]:
    return [
        n
        for n, s in tr.items()
        if s["type"] == "sample" and not s["is_observed"] and not s["infer"].get("is_auxiliary")
    ]


def model_potential(
    model: Callable, args: tuple = (), kwargs: dict | None = None
) -> ModelPotential:
    """The flat potential of ``model(*args, **kwargs)``.

    Raises:
        ValueError: the model has no latent sample site, or one is discrete (named).

    """
    kwargs = dict(kwargs or {})
    seeded = handlers.substitute(handlers.seed(model, 0), substitute_fn=init_to_median)
    tr = handlers.trace(seeded).get_trace(*args, **kwargs)
    names = _latent_sites(tr)
    if not names:
        raise ValueError(
            "The model has no latent sample site (every sample site is observed), so there "
            "is no posterior to approximate; add a latent numpyro.sample site."
        )
    for n in names:
        if tr[n]["fn"].support.is_discrete:
            raise ValueError(
                f"Latent site {n!r} is discrete ({type(tr[n]['fn']).__name__}); the potential "
                "needs continuous latents: marginalise it out (e.g. a mixture likelihood, or "
                "numpyro.contrib.funsor enumeration) or make it observed."
            )
    parts, shapes = [], {}
    for n in names:
        value = biject_to(tr[n]["fn"].support).inv(tr[n]["value"])
        shapes[n] = tuple(np.shape(value))
        parts.append(np.reshape(np.asarray(value, dtype=float), -1))
    supports = {n: tr[n]["fn"].support for n in names}
    proper = not any(type(tr[n]["fn"]).__name__ == "ImproperUniform" for n in names)
    return ModelPotential(
        model, tuple(args), kwargs, shapes, np.concatenate(parts), supports, proper
    )


def prior_draws(
    model: Callable, args: tuple, kwargs: dict, shapes: dict[str, Any], seed: int, num: int
) -> np.ndarray | None:
    """``num`` prior draws as flat unconstrained points ``(num, D)`` in the order of ``shapes``.

    ``shapes``: the latent sites and their unconstrained shapes, in flat order. The model is
    run eagerly (a handful of small operations; jitting would compile a PRNG per site).
    Returns ``None`` when the prior cannot be sampled (e.g. improper or data-dependent sites)
    or a draw is not finite or not of the layout's size, and an empty array for ``num == 0``.
    """
    dim = sum(int(np.prod(s, dtype=int)) for s in shapes.values())
    out = []
    for i in range(num):
        try:
            key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
            tr = handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)
            parts = [
                np.reshape(np.asarray(biject_to(tr[n]["fn"].support).inv(tr[n]["value"])), -1)
                for n in shapes
            ]
        except Exception:  # noqa: BLE001 - improper or data-dependent priors: no draws
            return None
        point = np.concatenate(parts) if parts else np.zeros(0)
        if point.shape != (dim,) or not np.all(np.isfinite(point)):
            return None
        out.append(point)
    return np.asarray(out).reshape(num, dim)


def dispersed_starts(mp: ModelPotential, num: int, seed: int = 0) -> np.ndarray:
    """``num`` start points ``(num, D)``: the median point, then prior draws.

    Where the prior cannot be sampled (improper sites) the other starts are uniform in cubes
    of half-width :data:`START_RADII` (cycled), so modes far from the origin are reached.
    """
    rest = (
        prior_draws(mp.model, mp.args, mp.kwargs, mp.shapes, seed, num - 1) if mp.proper else None
    )
    if rest is None:
        rng = np.random.default_rng(seed)
        radii = np.resize(np.asarray(START_RADII), num - 1)[:, None]
        rest = radii * rng.uniform(-1.0, 1.0, (num - 1, mp.dim))
    return np.concatenate([mp.init[None], rest])[:num]


def nonfinite_site(mp: ModelPotential, z: np.ndarray) -> str | None:
    """The first site whose log density is NaN or -inf at the flat point ``z`` (or ``None``)."""
    parts = mp.unpack(jnp.asarray(z))
    values = {n: biject_to(mp.supports[n])(v) for n, v in parts.items()}
    model = handlers.substitute(handlers.seed(mp.model, 0), data=values)
    tr = handlers.trace(model).get_trace(*mp.args, **mp.kwargs)
    for n, s in tr.items():
        if s["type"] != "sample":
            continue
        lp = np.asarray(jnp.sum(s["fn"].log_prob(s["value"])))
        if not np.isfinite(lp):
            return n
    return None
