r"""Binary labels with a logit or probit link, under a Gaussian marginal of the latent f.

.. math::
    p(y{=}1 \mid f) = \sigma(f)\ \text{(logit)} \quad\text{or}\quad \Phi(f)\ \text{(probit)},
    \qquad \log p(y \mid f) = \log g\big((2y - 1) f\big).

The expected log-likelihood uses Gauss–Hermite. The probit predictive is exact,
:math:`P(y{=}1) = \Phi(\mu/\sqrt{1+v})` (Rasmussen & Williams 2006, eq. 3.82), reusing
:mod:`probapprox.logits._gaussian_expectations`; the logit predictive is
:math:`\mathbb E[\sigma(f)]` by Gauss–Hermite with the exact probit term as a control variate.

References:
    1. Rasmussen & Williams (2006), *Gaussian Processes for Machine Learning*, §3.9.
    2. MacKay (1992), "The evidence framework applied to classification networks", Neural
       Computation 4(5) (the matching σ(x) ≈ Φ(√(π/8) x)).

"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtr

from probapprox._checks import check_choice
from probapprox.gp._latent_likelihood_base import Likelihood, as_float
from probapprox.gp._params import register_frozen_pytree
from probapprox.gp._quadrature import DEFAULT_NUM_POINTS, gh_expectation
from probapprox.logits import LAMBDA0, expected_normcdf, log_expected_normcdf

__all__ = ["Bernoulli"]


@register_frozen_pytree((), ("link", "num_points"))
class Bernoulli(Likelihood):
    r"""Binary labels y ∈ {0, 1}: :math:`p(y{=}1 \mid f) = \sigma(f)` (logit) or :math:`\Phi(f)`.

    With :math:`s = 2y - 1`, :math:`\log p(y \mid f) = \log\sigma(sf)` (``log_sigmoid``) or
    :math:`\log\Phi(sf)` (``log_ndtr``), both stable for any f.

    Args:
        link: ``"logit"`` (default) or ``"probit"``.
        num_points: Gauss–Hermite nodes for the expected log-likelihood (and, for the logit,
            the predictive).

    """

    __slots__ = ("link",)
    name = "bernoulli"
    link: str

    def __init__(self, link: str = "logit", *, num_points: int = DEFAULT_NUM_POINTS) -> None:
        super().__init__(num_points=num_points)
        object.__setattr__(
            self, "link", check_choice("Bernoulli", "link", link, ("logit", "probit"))
        )

    def __repr__(self) -> str:
        return f"Bernoulli(link={self.link!r}, num_points={self.num_points})"

    def _check_support(self, y: np.ndarray) -> None:
        bad = (y != 0) & (y != 1)
        if bad.any():
            found = np.unique(y[bad])[:5].tolist()
            raise ValueError(
                f"Bernoulli.validate_y(y=...) expects labels in {{0, 1}}; got {found}. "
                "For labels in {-1, 1} pass (y + 1) / 2."
            )

    @jax.jit
    def log_prob(self, y: jax.ArrayLike, f: jax.ArrayLike) -> jax.Array:
        r""":math:`\log\sigma((2y-1)f)` or :math:`\log\Phi((2y-1)f)`."""
        y, f = as_float(y, f)
        z = (2.0 * y - 1.0) * f
        return log_ndtr(z) if self.link == "probit" else jax.nn.log_sigmoid(z)

    @jax.jit
    def predictive_log_prob(
        self, y: jax.ArrayLike, mean: jax.ArrayLike, var: jax.ArrayLike
    ) -> jax.Array:
        r"""Probit: exact :math:`\log\Phi((2y-1)\mu/\sqrt{1+v})`; logit: see :meth:`predict_y`."""
        y, mean, var = as_float(y, mean, var)
        signed = (2.0 * y - 1.0) * mean
        if self.link == "probit":
            return log_expected_normcdf(signed, var)
        p = _expected_sigmoid(signed, var, self.num_points)
        ok = p > jnp.finfo(p.dtype).tiny
        # log-space quadrature only where p underflows (|μ| of several hundred)
        tail = super().predictive_log_prob(y, mean, var)
        return jnp.where(ok, jnp.log(jnp.where(ok, p, 1.0)), tail)

    @jax.jit
    def predict_y(self, mean: jax.ArrayLike, var: jax.ArrayLike) -> tuple[jax.Array, jax.Array]:
        r"""Return :math:`(p, p(1-p))` with :math:`p = P(y{=}1)`.

        Probit: :math:`p = \Phi(\mu/\sqrt{1+v})` exactly. Logit: :math:`p = \mathbb E[\sigma(f)]`
        (not the plug-in :math:`\sigma(\mu)`) by Gauss–Hermite with an exact control variate,

        .. math::
            \mathbb E[\sigma(f)] = \Phi\Big(\frac{\sqrt\lambda\,\mu}{\sqrt{1+\lambda v}}\Big)
                + \mathbb E\big[\sigma(f) - \Phi(\sqrt\lambda f)\big], \qquad
            \lambda = \pi/8,

        so quadrature only sees the small residual (|·| < 0.02). With 20 nodes the absolute
        error in p is < 1e-10 for v ≤ 1, 5e-6 at v = 4, 2e-4 at v = 9 and below 2.5e-3 for
        any larger v (plain quadrature: 3e-2 at v = 100); raise ``num_points`` for more.
        """
        mean, var = as_float(mean, var)
        if self.link == "probit":
            p = expected_normcdf(mean, var)
        else:
            p = _expected_sigmoid(mean, var, self.num_points)
        return p, p * (1.0 - p)


def _expected_sigmoid(mean: jax.Array, var: jax.Array, num_points: int) -> jax.Array:
    """``E[σ(f)]``, f ~ N(mean, var): exact ``E[Φ(√λ f)]`` plus quadrature of the residual."""
    root = math.sqrt(LAMBDA0)
    exact = expected_normcdf(root * mean, LAMBDA0 * var)
    resid = gh_expectation(lambda f: jax.nn.sigmoid(f) - ndtr(root * f), mean, var, num_points)
    return jnp.clip(exact + resid, 0.0, 1.0)
