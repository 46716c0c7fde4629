"""Family-aware optimisers (NumPyro-compatible)."""

from probapprox.optim._fbgvi import FBGVI as FBGVI
from probapprox.optim._iso_mixture import IsoMixtureDescent as IsoMixtureDescent

__all__ = ["FBGVI", "IsoMixtureDescent"]
