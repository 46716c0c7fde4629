r"""MADE: a masked dense network whose output ``d`` depends on inputs ``< d`` only.

Germain, Gregor, Murray, Larochelle (2015). Inputs have degrees :math:`m(d) = d + 1`
(:math:`d = 0, \dots, D-1`); hidden unit ``k`` of every hidden layer gets the degree
:math:`m(k) = 1 + (k \bmod \max(D - 1, 1))`. A connection into a hidden unit is kept when
its degree is at least the source's, :math:`M_{kj} = [m(k) \ge m(j)]`; the output block of
coordinate ``d`` connects to hidden unit ``k`` when :math:`d + 1 > m(k)` (strict). Every
path from input ``j`` to output ``d`` then has :math:`j < d`, so

.. math::
    \theta_d = \theta_d(x_{<d}), \qquad \frac{\partial \theta_d}{\partial x_j} = 0 \ (j \ge d),

and a transformer :math:`y_d = \tau(x_d; \theta_d)` has a lower-triangular Jacobian with
diagonal :math:`\tau'`. With ``D = 1`` the output sees no input (only its bias).

With ``skip`` the network also has a masked *linear* connection from the inputs to the
outputs, masked strictly lower like the output layer (:math:`S_{jd} = [j < d]`):

.. math::
    \theta_d(x) = \mathrm{MLP}_d(x_{<d}) + \sum_{j<d} x_j S_{jd}.

Gaussian hierarchies then have exactly representable conditioners at any range: in a
funnel or a centred hierarchy, :math:`x_i \mid v \sim \mathcal N(a + b v, e^{c + k v})`,
location and log-scale are affine in the parent, which ``tanh`` units give only on the
range where they are near-linear. The skip keeps every path from ``j`` to ``d`` at
``j < d``, so the Jacobian stays lower triangular. Measured (``benchmarks/bench_flows.py``,
default ``AutoNormalizingFlow`` and ``pa.fit``, 3 seeds, medians): funnel KL 0.064 → 0.038,
eight schools ELBO −31.344 → −31.333 (log Z = −31.311), banana KL 0.044 → 0.019.

Weights are dense arrays multiplied by fixed 0/1 masks; the output layer and the skip start
at zero, so a fresh network outputs all zeros (the transformer's identity).

Reference:
    Germain, Gregor, Murray, Larochelle (2015), "MADE: Masked autoencoder for distribution
    estimation", ICML.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from probapprox.families.flows._bijection import Params
from probapprox.families.flows._init_rng import array_module, normal, split

__all__ = ["made_apply", "made_init", "made_masks", "made_skip_mask"]


def made_masks(dim: int, hidden: tuple[int, ...], out_per_coord: int) -> tuple[np.ndarray, ...]:
    """Masks ``(n_in, n_out)`` of every layer; the output columns are ordered ``(D, P)``."""
    deg_in = np.arange(1, dim + 1)
    masks, prev = [], deg_in
    for h in hidden:
        deg = 1 + np.arange(h) % max(dim - 1, 1)
        masks.append((deg[None, :] >= prev[:, None]).astype(np.float64))
        prev = deg
    out = (deg_in[None, :] > prev[:, None]).astype(np.float64)  # (H, D)
    masks.append(np.repeat(out, out_per_coord, axis=1))
    return tuple(masks)


def made_skip_mask(dim: int, out_per_coord: int) -> np.ndarray:
    """Mask ``(D, D * P)`` of the linear skip: input ``j`` reaches output ``d`` iff ``j < d``."""
    idx = np.arange(dim)
    return np.repeat((idx[None, :] > idx[:, None]).astype(np.float64), out_per_coord, axis=1)


def made_init(
    key: jax.Array,
    dim: int,
    hidden: tuple[int, ...],
    out_per_coord: int,
    dtype: Any,
    *,
    skip: bool = False,
) -> Params:
    """Initial MADE parameters.

    ``W{i}``, ``b{i}``: hidden layers ``N(0, 1/fan-in)`` (masked fan-in), output zero; with
    ``skip`` also the linear skip ``S`` of shape ``(D, D * P)``, zero.
    """
    masks = made_masks(dim, hidden, out_per_coord)
    keys, xp = split(key, len(masks)), array_module(key)  # host arrays for a concrete key
    params: Params = {}
    for i, m in enumerate(masks):
        last = i == len(masks) - 1
        fan_in = np.maximum(m.sum(axis=0), 1.0)
        scale = 0.0 if last else 1.0 / np.sqrt(fan_in)
        params[f"W{i}"] = normal(keys[i], m.shape, dtype) * xp.asarray(scale * m, dtype)
        params[f"b{i}"] = xp.zeros((m.shape[1],), dtype)
    if skip:
        params["S"] = xp.zeros((dim, dim * out_per_coord), dtype)
    return params


def made_apply(
    params: Params, masks: tuple[np.ndarray, ...], x: jax.Array, out_per_coord: int
) -> jax.Array:
    """Conditioner outputs of shape ``(D, P)`` for one point ``x`` of shape ``(D,)``.

    ``tanh`` hidden layers; the linear skip is added when ``params`` has one (``S``).
    """
    h = x
    n = len(masks)
    for i, m in enumerate(masks):
        h = h @ (params[f"W{i}"] * jnp.asarray(m, h.dtype)) + params[f"b{i}"]
        if i < n - 1:
            h = jnp.tanh(h)
    if "S" in params:
        skip = made_skip_mask(x.shape[-1], out_per_coord)
        h = h + x @ (params["S"] * jnp.asarray(skip, x.dtype))
    return h.reshape(x.shape[-1], out_per_coord)
