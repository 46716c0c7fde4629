r"""Normalised toy densities with known moments: Neal's funnel, a banana, a four-mode mixture.

Each model's joint density integrates to one, so its log normalising constant is exactly 0.
The banana and the mixtures use one vector site ``x`` of shape ``(2,)`` drawn from an improper
flat prior (``ImproperUniform``) plus a ``numpyro.factor`` holding the exact log density; they
cannot be sampled forward, so trace them with ``handlers.substitute`` or fit a guide.
"""

import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp

from probapprox.models._reference import BundledModel, Reference

__all__ = ["banana", "bundles", "four_modes", "funnel", "mixture_moments"]

FUNNEL_V_SCALE = 3.0
FUNNEL_NUM_X = 9
BANANA_SCALE = 2.0
BANANA_CURVATURE = 0.5
FOUR_MODES_OFFSET = 3.0
FOUR_MODES_SCALE = 1.0
# Mode order: quadrants I, II, III, IV, i.e. (+,+), (-,+), (-,-), (+,-).
FOUR_MODES_SIGNS = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
FOUR_MODES_EQUAL = np.full(4, 0.25)
FOUR_MODES_UNEQUAL = np.array([0.1, 0.3, 0.3, 0.3])


def _flat(dim: int) -> dist.Distribution:
    return dist.ImproperUniform(dist.constraints.real_vector, (), (dim,))


def funnel(*, num_x=FUNNEL_NUM_X):
    r"""Model Neal's funnel.

    .. math::

        v \sim \mathcal N(0, 3^2), \qquad x_i \mid v \sim \mathcal N(0, e^{v}),
        \quad i = 1, \dots, K \;(K = 9 \text{ by default, so } 10\text{-D}).

    Sites: ``v`` (scalar) and ``x`` (shape ``(K,)``). Exact moments: :math:`E v = 0`,
    :math:`\operatorname{sd} v = 3`, :math:`E x_i = 0`,
    :math:`\operatorname{Var} x_i = E e^{v} = e^{9/2}`; all covariances vanish.

    Args:
        num_x: Number :math:`K` of conditionally Gaussian coordinates.

    """
    v = numpyro.sample("v", dist.Normal(0.0, FUNNEL_V_SCALE))
    numpyro.sample("x", dist.Normal(0.0, jnp.exp(v / 2)).expand([num_x]).to_event(1))


def banana_log_density(x):
    r"""Normalised banana log density at one point ``x`` of shape ``(2,)``.

    .. math::

        \log p(x) = \log \mathcal N(x_1; 0, s^2) + \log \mathcal N(x_2; b(x_1^2 - s^2), 1).
    """
    x1, x2 = x[..., 0], x[..., 1]
    shift = BANANA_CURVATURE * (x1**2 - BANANA_SCALE**2)
    return dist.Normal(0.0, BANANA_SCALE).log_prob(x1) + dist.Normal(shift, 1.0).log_prob(x2)


def banana():
    r"""Model a twisted Gaussian ("banana") in 2-D.

    .. math::

        x_1 \sim \mathcal N(0, s^2), \qquad x_2 \mid x_1 \sim \mathcal N(b(x_1^2 - s^2), 1),

    with :math:`s = 2`, :math:`b = 1/2`. Site ``x`` of shape ``(2,)``. Exact moments:
    :math:`E x = 0`, :math:`\operatorname{Var} x_1 = s^2 = 4`,
    :math:`\operatorname{Var} x_2 = 1 + 2b^2 s^4 = 9`, :math:`\operatorname{Cov}(x_1, x_2) = 0`.
    """
    x = numpyro.sample("x", _flat(2))
    numpyro.factor("log_density", banana_log_density(x))


def four_modes_log_density(
    x, weights=FOUR_MODES_EQUAL, offset=FOUR_MODES_OFFSET, scale=FOUR_MODES_SCALE
):
    r"""Log density of the four-mode mixture at one point ``x`` of shape ``(2,)``.

    .. math::

        \log p(x) = \log \sum_{k=1}^4 w_k\, \mathcal N(x; a\,s_k, \varsigma^2 I_2),
        \qquad \textstyle\sum_k w_k = 1 \text{ (weights are renormalised)}.
    """
    weights = jnp.asarray(weights)
    locs = offset * jnp.asarray(FOUR_MODES_SIGNS)
    comp = dist.Normal(locs, scale).log_prob(x).sum(-1)
    return logsumexp(jnp.log(weights) + comp) - jnp.log(weights.sum())


def four_modes(*, weights=FOUR_MODES_EQUAL, offset=FOUR_MODES_OFFSET, scale=FOUR_MODES_SCALE):
    r"""Model a mixture of four isotropic Gaussians at :math:`(\pm a, \pm a)`.

    .. math::

        p(x) = \sum_{k=1}^4 w_k\, \mathcal N(x; a\,s_k, \varsigma^2 I_2),

    with :math:`a = 3`, :math:`\varsigma = 1` and modes :math:`s_k` in the order
    :math:`(+,+), (-,+), (-,-), (+,-)`. Site ``x`` of shape ``(2,)``.

    Args:
        weights: Mixture weights, shape ``(4,)``, in the mode order above.
        offset: Mode offset :math:`a`.
        scale: Component standard deviation :math:`\varsigma`.

    """
    x = numpyro.sample("x", _flat(2))
    numpyro.factor("log_density", four_modes_log_density(x, weights, offset, scale))


def mixture_moments(weights: np.ndarray, locs: np.ndarray, scale: float):
    r"""Mean and covariance of an isotropic Gaussian mixture (law of total covariance).

    .. math::

        m = \textstyle\sum_k w_k \mu_k, \qquad
        \Sigma = \varsigma^2 I + \textstyle\sum_k w_k \mu_k\mu_k^\top - m m^\top.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = w @ locs
    cov = scale**2 * np.eye(locs.shape[1]) + (locs * w[:, None]).T @ locs - np.outer(mean, mean)
    return mean, cov


def _moment_reference(site: str, mean: np.ndarray, cov: np.ndarray) -> Reference:
    return Reference(
        mean={site: mean}, sd={site: np.sqrt(np.diag(cov))}, cov=cov, sites=(site,), log_Z=0.0
    )


def _funnel_reference() -> Reference:
    var_x = math.exp(FUNNEL_V_SCALE**2 / 2)
    return Reference(
        mean={"v": np.asarray(0.0), "x": np.zeros(FUNNEL_NUM_X)},
        sd={"v": np.asarray(FUNNEL_V_SCALE), "x": np.full(FUNNEL_NUM_X, math.sqrt(var_x))},
        cov=np.diag(np.r_[FUNNEL_V_SCALE**2, np.full(FUNNEL_NUM_X, var_x)]),
        sites=("v", "x"),
        log_Z=0.0,
    )


def bundles() -> list[BundledModel]:
    """Return the funnel, banana and four-mode mixtures (exact moments, log_Z = 0)."""
    s, b = BANANA_SCALE, BANANA_CURVATURE
    banana_cov = np.diag([s**2, 1.0 + 2.0 * b**2 * s**4])
    locs = FOUR_MODES_OFFSET * FOUR_MODES_SIGNS
    out = [
        BundledModel(
            name="funnel",
            model=funnel,
            args=(),
            kwargs={"num_x": FUNNEL_NUM_X},
            description="Neal's funnel in 10-D: v ~ N(0, 3^2), x_i | v ~ N(0, e^v), i = 1..9.",
            reference=_funnel_reference(),
        ),
        BundledModel(
            name="banana",
            model=banana,
            args=(),
            kwargs={},
            description="Banana: x1 ~ N(0, 2^2), x2 | x1 ~ N(0.5 (x1^2 - 4), 1).",
            reference=_moment_reference("x", np.zeros(2), banana_cov),
        ),
    ]
    for name, weights in [
        ("four_modes", FOUR_MODES_EQUAL),
        ("four_modes_unequal", FOUR_MODES_UNEQUAL),
    ]:
        mean, cov = mixture_moments(weights, locs, FOUR_MODES_SCALE)
        out.append(
            BundledModel(
                name=name,
                model=four_modes,
                args=(),
                kwargs={"weights": weights},
                description=(
                    f"Four N(., I) modes at (+-3, +-3), weights {tuple(weights.tolist())} "
                    "for quadrants I, II, III, IV."
                ),
                reference=_moment_reference("x", mean, cov),
            )
        )
    return out
