"""Family-aware optimisers (NumPyro-compatible)."""

from probapprox.optim._iso_mixture import IsoMixtureDescent as IsoMixtureDescent

__all__ = ["IsoMixtureDescent"]
