"""ELBO estimators usable as NumPyro ``ELBO`` objects in ``SVI`` and ``probapprox.fit``."""

from probapprox.estimators._path import PathELBO as PathELBO

__all__ = ["PathELBO"]
