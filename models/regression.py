r"""Bayesian linear regression with known noise: a Gaussian posterior in closed form.

The design matrix is an intercept column plus four correlated features
(AR(1) correlation :math:`\rho^{|i-j|}`, :math:`\rho = 0.6`), drawn once from
``numpy.random.default_rng(LR_SEED)`` at import. The references are computed from the data
actually generated, so they stay exact even if NumPy's generator stream ever changes.
"""

import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy.linalg import cho_solve

from probapprox.models._reference import BundledModel, Reference

__all__ = ["bundles", "linear_regression", "make_linear_regression_data"]

LR_SEED = 20240611
LR_NUM_OBS = 100
LR_RHO = 0.6
LR_BETA_TRUE = np.array([0.5, 1.0, -2.0, 0.0, 1.5])
LR_SIGMA = 1.0
LR_TAU = 2.0


def make_linear_regression_data(seed: int = LR_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Draw the bundled design matrix ``X`` (100 x 5, first column ones) and response ``y``."""
    rng = np.random.default_rng(seed)
    p = LR_BETA_TRUE.size - 1
    idx = np.arange(p)
    corr = LR_RHO ** np.abs(idx[:, None] - idx[None, :])
    feats = rng.standard_normal((LR_NUM_OBS, p)) @ np.linalg.cholesky(corr).T
    x = np.hstack([np.ones((LR_NUM_OBS, 1)), feats])
    y = x @ LR_BETA_TRUE + LR_SIGMA * rng.standard_normal(LR_NUM_OBS)
    return x, y


def linear_regression(X, y=None):
    r"""Model linear regression with a Gaussian prior and known noise scale.

    .. math::

        \beta \sim \mathcal N(0, \tau^2 I_d), \qquad
        y \mid \beta \sim \mathcal N(X\beta, \sigma^2 I_n),

    with :math:`\sigma = 1`, :math:`\tau = 2`. Sites: ``beta`` (latent, shape ``(d,)``; the
    intercept is ``beta[0]``), ``beta_norm`` (deterministic :math:`\lVert\beta\rVert_2`) and
    ``obs`` (observed, in plate ``data``).

    Args:
        X: Design matrix of shape ``(n, d)``.
        y: Responses of shape ``(n,)``, or ``None`` for the prior predictive.

    """
    d = X.shape[1]
    beta = numpyro.sample("beta", dist.Normal(0.0, LR_TAU).expand([d]).to_event(1))
    numpyro.deterministic("beta_norm", jnp.linalg.norm(beta))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("obs", dist.Normal(X @ beta, LR_SIGMA), obs=y)


def linear_regression_reference(x: np.ndarray, y: np.ndarray) -> Reference:
    r"""Exact posterior and evidence of :func:`linear_regression` (float64).

    The posterior precision is :math:`\Lambda = X^\top X/\sigma^2 + I/\tau^2 = LL^\top`,
    with mean :math:`m = \Lambda^{-1} X^\top y/\sigma^2`. The evidence
    :math:`y \sim \mathcal N(0, C)`, :math:`C = \sigma^2 I + \tau^2 XX^\top`, uses the
    determinant lemma and Woodbury:

    .. math::

        \log|C| = 2n\log\sigma + 2d\log\tau + 2\textstyle\sum_i \log L_{ii}, \qquad
        y^\top C^{-1} y = y^\top y/\sigma^2 - m^\top \Lambda m.
    """
    n, d = x.shape
    s2, t2 = LR_SIGMA**2, LR_TAU**2
    chol = np.linalg.cholesky(x.T @ x / s2 + np.eye(d) / t2)
    factor = (chol, True)
    b = x.T @ y / s2
    mean = cho_solve(factor, b)
    cov = cho_solve(factor, np.eye(d))
    cov = 0.5 * (cov + cov.T)
    logdet_c = 2 * n * math.log(LR_SIGMA) + 2 * d * math.log(LR_TAU)
    logdet_c += 2 * float(np.sum(np.log(np.diag(chol))))
    quad = float(y @ y / s2 - b @ mean)
    log_z = -0.5 * (n * math.log(2 * math.pi) + logdet_c + quad)
    return Reference(
        mean={"beta": mean},
        sd={"beta": np.sqrt(np.diag(cov))},
        cov=cov,
        sites=("beta",),
        log_Z=log_z,
    )


def bundles() -> list[BundledModel]:
    """Return the linear-regression model with its bundled synthetic data and exact reference."""
    x, y = make_linear_regression_data()
    return [
        BundledModel(
            name="linear_regression",
            model=linear_regression,
            args=(x,),
            kwargs={"y": y},
            description=(
                "Linear regression, n=100, d=5 (intercept + 4 correlated features), "
                "known sigma=1, N(0, 2^2 I) prior."
            ),
            reference=linear_regression_reference(x, y),
        )
    ]
