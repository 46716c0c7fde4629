r"""Eight schools (Rubin 1981), non-centred parameterisation.

Data: estimated coaching effects ``y`` and their standard errors ``sigma`` for eight schools
(Rubin, 1981; Gelman et al., *Bayesian Data Analysis*, §5.5). No exact posterior is known, so
the bundle carries no reference.
"""

import numpy as np
import numpyro
import numpyro.distributions as dist

from probapprox.models._reference import BundledModel

__all__ = ["EIGHT_SCHOOLS_SIGMA", "EIGHT_SCHOOLS_Y", "bundles", "eight_schools"]

EIGHT_SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(sigma, y=None):
    r"""Model the eight schools hierarchically, non-centred.

    .. math::

        \mu \sim \mathcal N(0, 5^2), \quad \tau \sim \mathrm{HalfCauchy}(5), \quad
        \tilde\theta_j \sim \mathcal N(0, 1), \quad \theta_j = \mu + \tau\tilde\theta_j, \quad
        y_j \sim \mathcal N(\theta_j, \sigma_j^2), \quad j = 1, \dots, J.

    Sites: ``mu``, ``tau``, ``theta_tilde`` (latent; the last in plate ``school``), ``theta``
    (deterministic) and ``obs`` (observed).

    Args:
        sigma: Known standard errors, shape ``(J,)``.
        y: Observed effects, shape ``(J,)``, or ``None`` for the prior predictive.

    """
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", sigma.shape[0]):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def bundles() -> list[BundledModel]:
    """Return the eight-schools model with the classic data; no exact reference."""
    return [
        BundledModel(
            name="eight_schools",
            model=eight_schools,
            args=(EIGHT_SCHOOLS_SIGMA,),
            kwargs={"y": EIGHT_SCHOOLS_Y},
            description="Eight schools, non-centred: mu ~ N(0, 5^2), tau ~ HalfCauchy(5).",
            reference=None,
        )
    ]
