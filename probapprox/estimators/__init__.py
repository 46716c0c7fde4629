"""ELBO estimators usable as NumPyro ``ELBO`` objects in ``SVI`` and ``probapprox.fit``."""

from probapprox.estimators._mixture import MixtureELBO as MixtureELBO

# the keyword that carries the step number to a step-aware loss; not in __all__ (infer uses it)
from probapprox.estimators._path import STEP_KWARG as STEP_KWARG
from probapprox.estimators._path import PathELBO as PathELBO

__all__ = ["MixtureELBO", "PathELBO"]
