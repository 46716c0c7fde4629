"""Containers for bundled models and their exact posterior references."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["BundledModel", "Reference"]


@dataclass(frozen=True)
class Reference:
    r"""Exact posterior quantities of a bundled model, where they are known.

    Every array is float64 numpy and refers to the constrained (model) space.

    Attributes:
        mean: Exact posterior mean per latent sample site.
        sd: Exact posterior standard deviation per latent sample site.
        cov: Exact joint covariance of the flattened latents, concatenated in the order of
            ``sites`` (each site flattened in C order).
        sites: Latent site names, in the order used by ``cov``.
        log_Z: Exact log normalising constant of the model's unnormalised joint density
            :math:`\log \int p(y, \theta)\, d\theta` (the log marginal likelihood), taken with
            respect to Lebesgue measure on the constrained latents.

    """

    mean: dict[str, np.ndarray] | None = None
    sd: dict[str, np.ndarray] | None = None
    cov: np.ndarray | None = None
    sites: tuple[str, ...] = ()
    log_Z: float | None = None


@dataclass(frozen=True)
class BundledModel:
    """A NumPyro model together with the arguments that make it a concrete posterior.

    Attributes:
        name: Registry name, e.g. ``"linear_regression"``.
        model: The NumPyro model function; call it as ``model(*args, **kwargs)``.
        args: Positional arguments (data, bundled with the package).
        kwargs: Keyword arguments (observations and settings).
        description: One line on what the model is.
        reference: Exact posterior quantities, or ``None`` when none are known.

    """

    name: str
    model: Callable
    args: tuple
    kwargs: dict
    description: str
    reference: Reference | None
