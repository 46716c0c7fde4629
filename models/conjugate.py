r"""Conjugate one-parameter models with closed-form posteriors and evidence.

Both data sets are small constants (drawn once with ``numpy.random.default_rng`` and rounded),
so the references below are exact for the bundled data.
"""

import math

import numpy as np
import numpyro
import numpyro.distributions as dist

from probapprox.models._reference import BundledModel, Reference

__all__ = ["beta_bernoulli", "bundles", "normal_normal"]

# normal_normal: y_i ~ N(1, 1), drawn with default_rng(0), rounded to 4 decimals.
NN_Y = np.array(
    [1.1257, 0.8679, 1.6404, 1.1049, 0.4643, 1.3616, 2.304, 1.9471, 0.2963, -0.2654,
     0.3767, 1.0413, -1.325, 0.7812, -0.2459, 0.2677, 0.4557, 0.6837, 1.4116, 2.0425]
)  # fmt: skip
NN_PRIOR_LOC = 0.0
NN_PRIOR_SCALE = 2.0
NN_SIGMA = 1.0

# beta_bernoulli: Bernoulli(0.3) flips drawn with default_rng(1).
BB_Y = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1])
BB_A = 2.0
BB_B = 2.0


def normal_normal(y=None, *, num_obs=NN_Y.size):
    r"""Model a normal mean with known noise scale and a normal prior.

    .. math::

        \mu \sim \mathcal N(m_0, s_0^2), \qquad
        y_i \mid \mu \sim \mathcal N(\mu, \sigma^2), \quad i = 1, \dots, n,

    with :math:`m_0 = 0`, :math:`s_0 = 2`, :math:`\sigma = 1`. Sites: ``mu`` (latent),
    ``obs`` (observed, in plate ``data``).

    Args:
        y: Observations of shape ``(n,)``, or ``None`` to sample from the prior predictive.
        num_obs: Number of observations when ``y`` is ``None``.

    """
    mu = numpyro.sample("mu", dist.Normal(NN_PRIOR_LOC, NN_PRIOR_SCALE))
    n = num_obs if y is None else y.shape[0]
    with numpyro.plate("data", n):
        numpyro.sample("obs", dist.Normal(mu, NN_SIGMA), obs=y)


def beta_bernoulli(y=None, *, num_obs=BB_Y.size):
    r"""Model a Bernoulli success probability with a conjugate beta prior.

    .. math::

        p \sim \mathrm{Beta}(a, b), \qquad y_i \mid p \sim \mathrm{Bernoulli}(p),

    with :math:`a = b = 2`. Sites: ``p`` (latent), ``obs`` (observed, in plate ``data``).

    Args:
        y: 0/1 observations of shape ``(n,)``, or ``None`` for the prior predictive.
        num_obs: Number of observations when ``y`` is ``None``.

    """
    p = numpyro.sample("p", dist.Beta(BB_A, BB_B))
    n = num_obs if y is None else y.shape[0]
    with numpyro.plate("data", n):
        numpyro.sample("obs", dist.Bernoulli(probs=p), obs=y)


def _normal_normal_reference(y: np.ndarray) -> Reference:
    r"""Posterior :math:`\mathcal N(m_n, s_n^2)` and evidence of :func:`normal_normal`.

    .. math::

        s_n^{-2} = s_0^{-2} + n\sigma^{-2}, \qquad
        m_n = s_n^2\,(m_0 s_0^{-2} + \textstyle\sum_i y_i\, \sigma^{-2}),

        \log Z = -\tfrac n2 \log(2\pi\sigma^2) - \tfrac12 \log(1 + n s_0^2/\sigma^2)
                 - \tfrac12 \Big[\frac{\sum_i (y_i - \bar y)^2}{\sigma^2}
                 + \frac{n(\bar y - m_0)^2}{\sigma^2 + n s_0^2}\Big].
    """
    n, ybar = y.size, float(np.mean(y))
    s2, v0 = NN_SIGMA**2, NN_PRIOR_SCALE**2
    prec = 1.0 / v0 + n / s2
    mean = (NN_PRIOR_LOC / v0 + y.sum() / s2) / prec
    log_z = (
        -0.5 * n * math.log(2 * math.pi * s2)
        - 0.5 * math.log1p(n * v0 / s2)
        - 0.5 * (np.sum((y - ybar) ** 2) / s2 + n * (ybar - NN_PRIOR_LOC) ** 2 / (s2 + n * v0))
    )
    return Reference(
        mean={"mu": np.asarray(mean)},
        sd={"mu": np.asarray(prec**-0.5)},
        cov=np.array([[1.0 / prec]]),
        sites=("mu",),
        log_Z=float(log_z),
    )


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_bernoulli_reference(y: np.ndarray) -> Reference:
    r"""Posterior :math:`\mathrm{Beta}(\alpha, \beta)` and evidence of :func:`beta_bernoulli`.

    .. math::

        \alpha = a + k, \quad \beta = b + n - k, \qquad
        \log Z = \log B(\alpha, \beta) - \log B(a, b), \qquad k = \textstyle\sum_i y_i.
    """
    k = float(y.sum())
    alpha, beta = BB_A + k, BB_B + y.size - k
    total = alpha + beta
    var = alpha * beta / (total**2 * (total + 1.0))
    return Reference(
        mean={"p": np.asarray(alpha / total)},
        sd={"p": np.asarray(math.sqrt(var))},
        cov=np.array([[var]]),
        sites=("p",),
        log_Z=_log_beta(alpha, beta) - _log_beta(BB_A, BB_B),
    )


def bundles() -> list[BundledModel]:
    """Return the conjugate models with their bundled data and exact references."""
    return [
        BundledModel(
            name="normal_normal",
            model=normal_normal,
            args=(),
            kwargs={"y": NN_Y},
            description="Normal mean, known sigma=1, N(0, 2^2) prior; 20 observations.",
            reference=_normal_normal_reference(NN_Y),
        ),
        BundledModel(
            name="beta_bernoulli",
            model=beta_bernoulli,
            args=(),
            kwargs={"y": BB_Y},
            description="Bernoulli probability with a Beta(2, 2) prior; 20 flips.",
            reference=_beta_bernoulli_reference(BB_Y),
        ),
    ]
