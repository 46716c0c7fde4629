"""Diagnostics of fitted approximations: PSIS k̂, importance ESS, ELBO, ArviZ export."""

from probapprox.diagnostics._arviz import to_datatree as to_datatree
from probapprox.diagnostics._plots import plot_fits as plot_fits
from probapprox.diagnostics._psis import PSISResult as PSISResult
from probapprox.diagnostics._psis import psis as psis
from probapprox.diagnostics._report import ApproximationWarning as ApproximationWarning
from probapprox.diagnostics._report import Diagnostics as Diagnostics
from probapprox.diagnostics._report import diagnose as diagnose

__all__ = [
    "ApproximationWarning",
    "Diagnostics",
    "PSISResult",
    "diagnose",
    "plot_fits",
    "psis",
    "to_datatree",
]
