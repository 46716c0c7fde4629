"""NumPyro guides: probapprox's variational families and the registry of known guides."""

from probapprox.guides._flow import AutoNormalizingFlow as AutoNormalizingFlow
from probapprox.guides._flow_dist import FlowDistribution as FlowDistribution
from probapprox.guides._hooks import FitHooks as FitHooks
from probapprox.guides._hooks import Whitener as Whitener
from probapprox.guides._iso_mixture import AutoIsoGaussianMixture as AutoIsoGaussianMixture
from probapprox.guides._iso_mixture import (
    IsoGaussianMixtureDistribution as IsoGaussianMixtureDistribution,
)
from probapprox.guides._laplace import AutoLaplace as AutoLaplace
from probapprox.guides._laplace_dist import LowRankPrecisionNormal as LowRankPrecisionNormal
from probapprox.guides._registry import GUIDES as GUIDES
from probapprox.guides._registry import guide_class as guide_class
from probapprox.guides._registry import guide_config as guide_config
from probapprox.guides._registry import make_guide as make_guide
from probapprox.guides._registry import register_guide as register_guide
from probapprox.guides._sic import AutoSIC as AutoSIC
from probapprox.guides._sic_dist import SICNormal as SICNormal

__all__ = [
    "GUIDES",
    "AutoIsoGaussianMixture",
    "AutoLaplace",
    "AutoNormalizingFlow",
    "AutoSIC",
    "FitHooks",
    "FlowDistribution",
    "IsoGaussianMixtureDistribution",
    "LowRankPrecisionNormal",
    "SICNormal",
    "Whitener",
    "guide_class",
    "guide_config",
    "make_guide",
    "register_guide",
]
