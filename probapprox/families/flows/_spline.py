r"""Monotone rational-quadratic spline with identity (linear) tails, elementwise.

On ``[-B, B]`` with ``K`` bins of widths :math:`w_k`, heights :math:`h_k` and knot
derivatives :math:`\delta_k` (:math:`\delta_0 = \delta_K = 1`, so the map joins the identity
outside the interval: no bounded codomain), for :math:`x` in bin ``k`` with
:math:`\xi = (x - x_k)/w_k` and :math:`s_k = h_k / w_k`,

.. math::
    y = y_k + \frac{h_k\,[s_k \xi^2 + \delta_k \xi(1-\xi)]}
        {s_k + (\delta_{k+1} + \delta_k - 2 s_k)\,\xi(1-\xi)}, \qquad
    \frac{dy}{dx} = \frac{s_k^2\,[\delta_{k+1}\xi^2 + 2 s_k \xi(1-\xi) + \delta_k (1-\xi)^2]}
        {[s_k + (\delta_{k+1} + \delta_k - 2 s_k)\,\xi(1-\xi)]^2}.

The inverse solves a quadratic in :math:`\xi` in the numerically stable form. Raw
parameters ``(..., 3K - 1)`` (width logits, height logits, derivative pre-activations) at
zero give the identity exactly.

Reference:
    Durkan, Bekasov, Murray, Papamakarios (2019), "Neural spline flows", NeurIPS.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["spline_forward", "spline_inverse", "num_spline_params"]

MIN_BIN = 1e-2
MIN_DERIVATIVE = 1e-2


def num_spline_params(num_bins: int) -> int:
    """Raw parameters per coordinate: ``K`` widths, ``K`` heights, ``K − 1`` derivatives."""
    return 3 * num_bins - 1


def _knots(raw: jax.Array, bound: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    k = (raw.shape[-1] + 1) // 3

    def positions(logits: jax.Array) -> jax.Array:
        frac = MIN_BIN + (1.0 - MIN_BIN * k) * jax.nn.softmax(logits, axis=-1)
        cum = jnp.cumsum(frac, axis=-1)
        zero = jnp.zeros_like(cum[..., :1])
        pos = -bound + 2.0 * bound * jnp.concatenate([zero, cum], axis=-1)
        return pos.at[..., -1].set(bound)

    xs, ys = positions(raw[..., :k]), positions(raw[..., k : 2 * k])
    inner = MIN_DERIVATIVE + (1.0 - MIN_DERIVATIVE) * jax.nn.softplus(raw[..., 2 * k :]) / math.log(
        2.0
    )
    one = jnp.ones_like(inner[..., :1])
    return xs, ys, jnp.concatenate([one, inner, one], axis=-1)


def _bin(pos: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.sum(t[..., None] >= pos[..., 1:-1], axis=-1)


def _gather(a: jax.Array, idx: jax.Array) -> jax.Array:
    return jnp.take_along_axis(a, idx[..., None], axis=-1)[..., 0]


def _bin_terms(
    raw: jax.Array, t: jax.Array, bound: float, *, by_output: bool
) -> tuple[jax.Array, ...]:
    xs, ys, ds = _knots(raw, bound)
    k = _bin(ys if by_output else xs, t)
    x0, x1 = _gather(xs, k), _gather(xs, k + 1)
    y0, y1 = _gather(ys, k), _gather(ys, k + 1)
    d0, d1 = _gather(ds, k), _gather(ds, k + 1)
    w, h = x1 - x0, y1 - y0
    return x0, y0, w, h, h / w, d0, d1


def spline_forward(raw: jax.Array, x: jax.Array, bound: float) -> tuple[jax.Array, jax.Array]:
    """``(y, log dy/dx)`` elementwise; ``raw`` has shape ``x.shape + (3K − 1,)``."""
    inside = jnp.abs(x) < bound
    xc = jnp.clip(x, -bound, bound)
    x0, y0, w, h, s, d0, d1 = _bin_terms(raw, xc, bound, by_output=False)
    xi = (xc - x0) / w
    omx = xi * (1.0 - xi)
    denom = s + (d1 + d0 - 2.0 * s) * omx
    y = y0 + h * (s * xi**2 + d0 * omx) / denom
    num = s**2 * (d1 * xi**2 + 2.0 * s * omx + d0 * (1.0 - xi) ** 2)
    logd = jnp.log(num) - 2.0 * jnp.log(denom)
    return jnp.where(inside, y, x), jnp.where(inside, logd, 0.0)


def spline_inverse(raw: jax.Array, y: jax.Array, bound: float) -> jax.Array:
    """Elementwise inverse of :func:`spline_forward`."""
    inside = jnp.abs(y) < bound
    yc = jnp.clip(y, -bound, bound)
    x0, y0, w, h, s, d0, d1 = _bin_terms(raw, yc, bound, by_output=True)
    dy = yc - y0
    c2 = d1 + d0 - 2.0 * s
    a = h * (s - d0) + dy * c2
    b = h * d0 - dy * c2
    c = -s * dy
    disc = jnp.maximum(b**2 - 4.0 * a * c, 0.0)
    xi = 2.0 * c / (-b - jnp.sqrt(disc))
    return jnp.where(inside, x0 + xi * w, y)
