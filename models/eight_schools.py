r"""Eight schools (Rubin 1981), non-centred (bundled) and centred (:data:`CENTRED`).

Data: estimated coaching effects ``y`` and their standard errors ``sigma`` for eight schools
(Rubin, 1981; Gelman et al., *Bayesian Data Analysis*, §5.5). No exact posterior is known, so
the registry's bundle carries no reference; long-NUTS means and sds of both
parameterisations are in ``models/data/eight_schools_nuts.npz`` (written by
``benchmarks/eight_schools_nuts.py``), read by :func:`nuts_reference`. The centred model is
not in the registry (like :mod:`models.ill_conditioned`, it is a test and benchmark case).
"""

from pathlib import Path

import numpy as np
import numpyro
import numpyro.distributions as dist

from probapprox.models._reference import BundledModel, Reference

__all__ = [
    "CENTRED",
    "EIGHT_SCHOOLS_SIGMA",
    "EIGHT_SCHOOLS_Y",
    "NUTS_FILE",
    "bundles",
    "eight_schools",
    "eight_schools_centred",
    "nuts_reference",
]

NUTS_FILE = Path(__file__).resolve().parent / "data" / "eight_schools_nuts.npz"

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


def eight_schools_centred(sigma, y=None):
    r"""Model the eight schools hierarchically, centred.

    .. math::

        \mu \sim \mathcal N(0, 5^2), \quad \tau \sim \mathrm{HalfCauchy}(5), \quad
        \theta_j \sim \mathcal N(\mu, \tau^2), \quad y_j \sim \mathcal N(\theta_j, \sigma_j^2).

    Sites: ``mu``, ``tau``, ``theta`` (latent; the last in plate ``school``), ``obs``.
    """
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", sigma.shape[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def nuts_reference(name: str) -> Reference | None:
    """Long-NUTS means and sds for ``"eight_schools"`` or ``"eight_schools_centred"``."""
    if not NUTS_FILE.exists():
        return None
    with np.load(NUTS_FILE) as data:
        keys = [k.split("/") for k in data.files if k.startswith(f"{name}/")]
        sites = sorted({k[1] for k in keys if len(k) == 3})
        mean = {s: np.asarray(data[f"{name}/{s}/mean"]) for s in sites}
        sd = {s: np.asarray(data[f"{name}/{s}/sd"]) for s in sites}
    return Reference(mean=mean, sd=sd, sites=tuple(sites)) if sites else None


CENTRED = BundledModel(
    name="eight_schools_centred",
    model=eight_schools_centred,
    args=(EIGHT_SCHOOLS_SIGMA,),
    kwargs={"y": EIGHT_SCHOOLS_Y},
    description="Eight schools, centred: theta_j ~ N(mu, tau^2), tau ~ HalfCauchy(5).",
    reference=nuts_reference("eight_schools_centred"),
)
