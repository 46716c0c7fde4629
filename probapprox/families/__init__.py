"""Variational families: parameter pytrees and pure JAX sample / log-density / score maths."""

from probapprox.families import flows as flows
from probapprox.families import gaussian as gaussian
from probapprox.families import iso_mixture as iso_mixture

__all__ = ["flows", "gaussian", "iso_mixture"]
