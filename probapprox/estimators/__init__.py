"""ELBO estimators usable as NumPyro ``ELBO`` objects in ``SVI`` and ``probapprox.fit``."""

from probapprox.estimators._mixture import MixtureELBO as MixtureELBO
from probapprox.estimators._path import STEP_KWARG as STEP_KWARG
from probapprox.estimators._path import PathELBO as PathELBO

__all__ = ["STEP_KWARG", "MixtureELBO", "PathELBO"]
