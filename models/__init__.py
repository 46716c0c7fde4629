"""Bundled NumPyro models with small bundled data and, where known, exact references.

>>> from probapprox.models import get_model
>>> bundle = get_model("normal_normal")
>>> round(bundle.reference.log_Z, 3)
-27.898
"""

from probapprox.models._registry import MODELS, BundledModel, Reference, get_model

__all__ = ["MODELS", "BundledModel", "Reference", "get_model"]
