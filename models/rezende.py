r"""The four 2-D test energies of Rezende & Mohamed (2015), Table 1, as NumPyro models.

Each target is :math:`p(z) \propto e^{-U(z)}` with

.. math::

    w_1(z) = \sin(2\pi z_1/4), \quad
    w_2(z) = 3 e^{-\frac12((z_1 - 1)/0.6)^2}, \quad
    w_3(z) = 3\,\sigma\big((z_1 - 1)/0.3\big),

    U_1 = \tfrac12\Big(\frac{\lVert z\rVert - 2}{0.4}\Big)^2
          - \log\big(e^{-\frac12((z_1 - 2)/0.6)^2} + e^{-\frac12((z_1 + 2)/0.6)^2}\big),

    U_2 = \tfrac12\Big(\frac{z_2 - w_1}{0.4}\Big)^2, \quad
    U_3 = -\log\big(e^{-\frac12((z_2 - w_1)/0.35)^2}
                   + e^{-\frac12((z_2 - w_1 + w_2)/0.35)^2}\big),

    U_4 = -\log\big(e^{-\frac12((z_2 - w_1)/0.4)^2}
                   + e^{-\frac12((z_2 - w_1 + w_3)/0.35)^2}\big).

:math:`U_1` is normalisable on :math:`\mathbb R^2` (:math:`\log\int e^{-U_1} = 1.87750`), and
its model puts an improper flat prior on ``z`` plus ``factor(-U_1)``, so the model's log
normalising constant is 1.87750. :math:`U_2`–:math:`U_4` are **not** normalisable on
:math:`\mathbb R^2` (the mass grows with the length of the :math:`z_1` range), so their
models restrict ``z`` to the box :math:`[-4, 4]^2` with a ``Uniform(-4, 4)`` prior (density
1/64) plus ``factor(-U)``; their log normalising constant is
:math:`\log\int_{[-4,4]^2} e^{-U} - \log 64`. The box constants 2.08209, 2.64171, 2.68457
(U2, U3, U4) come from a 4001² trapezoid rule (design notes, methods.md §2) and are checked
independently in ``tests/test_models.py``.
"""

import math

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.nn import sigmoid

from probapprox.models._reference import BundledModel, Reference

__all__ = ["BOX", "BOX_LOG_Z", "U1_LOG_Z", "bundles", "energy", "rezende"]

BOX = 4.0
U1_LOG_Z = 1.87750
BOX_LOG_Z = {"u1": 1.87750, "u2": 2.08209, "u3": 2.64171, "u4": 2.68457}


def _safe_norm(z):
    """Euclidean norm with a zero (not NaN) gradient at the origin."""
    sq = jnp.sum(z**2, axis=-1)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def _sq(t):
    return -0.5 * t**2


def energy(name: str, z):
    """Energy :math:`U(z)` of test density ``name`` in ``{"u1", "u2", "u3", "u4"}``.

    Args:
        name: Which energy.
        z: Points of shape ``(..., 2)``.

    Returns:
        Array of shape ``z.shape[:-1]``.

    """
    z1, z2 = z[..., 0], z[..., 1]
    w1 = jnp.sin(2.0 * math.pi * z1 / 4.0)
    if name == "u1":
        ring = 0.5 * ((_safe_norm(z) - 2.0) / 0.4) ** 2
        return ring - jnp.logaddexp(_sq((z1 - 2.0) / 0.6), _sq((z1 + 2.0) / 0.6))
    if name == "u2":
        return 0.5 * ((z2 - w1) / 0.4) ** 2
    if name == "u3":
        w2 = 3.0 * jnp.exp(_sq((z1 - 1.0) / 0.6))
        return -jnp.logaddexp(_sq((z2 - w1) / 0.35), _sq((z2 - w1 + w2) / 0.35))
    if name == "u4":
        w3 = 3.0 * sigmoid((z1 - 1.0) / 0.3)
        return -jnp.logaddexp(_sq((z2 - w1) / 0.4), _sq((z2 - w1 + w3) / 0.35))
    raise ValueError(f"Unknown energy {name!r}; expected one of 'u1', 'u2', 'u3', 'u4'.")


def rezende(name: str):
    r"""Model :math:`p(z) \propto e^{-U(z)}` for one of the Rezende–Mohamed energies.

    Sites: ``z`` (latent, shape ``(2,)``) and the factor ``energy`` (:math:`-U(z)`). For
    ``"u1"``, ``z`` has an improper flat prior on :math:`\mathbb R^2` (it cannot be sampled
    forward; substitute a value to trace it). For ``"u2"``–``"u4"``, ``z`` has a
    ``Uniform(-4, 4)`` prior on each coordinate, i.e. density :math:`1/64` on the box.

    Args:
        name: ``"u1"``, ``"u2"``, ``"u3"`` or ``"u4"``.

    """
    if name == "u1":
        base = dist.ImproperUniform(dist.constraints.real_vector, (), (2,))
    else:
        base = dist.Uniform(-BOX, BOX).expand([2]).to_event(1)
    z = numpyro.sample("z", base)
    numpyro.factor("energy", -energy(name, z))


def bundles() -> list[BundledModel]:
    """Return ``rezende_u1`` … ``rezende_u4`` with their log normalising constants (no moments)."""
    out = []
    for name, box_log_z in BOX_LOG_Z.items():
        unbounded = name == "u1"
        log_z = box_log_z if unbounded else box_log_z - math.log((2 * BOX) ** 2)
        support = "on R^2" if unbounded else "on the box [-4, 4]^2 (Uniform prior)"
        out.append(
            BundledModel(
                name=f"rezende_{name}",
                model=rezende,
                args=(name,),
                kwargs={},
                description=f"Rezende & Mohamed (2015) energy {name.upper()} {support}.",
                reference=Reference(log_Z=log_z),
            )
        )
    return out
