"""Variational families: parameter pytrees and pure JAX sample / log-density / score maths."""

from probapprox.families import flows as flows
from probapprox.families import gaussian as gaussian
from probapprox.families import iso_mixture as iso_mixture
from probapprox.families import lowrank_precision as lowrank_precision
from probapprox.families import sic_gaussian as sic_gaussian

__all__ = ["flows", "gaussian", "iso_mixture", "lowrank_precision", "sic_gaussian"]
