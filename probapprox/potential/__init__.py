r"""The posterior potential of a NumPyro model: MAPs, curvature and Laplace Gaussians.

One home for the flat unconstrained log density :math:`-U(z)` of a model (see
:mod:`._model`): damped saddle-free Newton MAP searches from dispersed starts (L-BFGS above
``dense_max``), their curvature floored by the one rule of
:func:`probapprox.linalg.floor_eigenvalues`, the distinct local maxima found and the Laplace
Gaussian at each. ``pa.fit``'s warm start, :class:`~probapprox.guides.AutoLaplace` and
``pa.fit(model, "auto")`` use it.

>>> import probapprox.potential as pp  # doctest: +SKIP
>>> mp = pp.model_potential(model, (X,), {"y": y})  # doctest: +SKIP
>>> search = pp.find_modes(mp.potential, pp.dispersed_starts(mp, 16))  # doctest: +SKIP
>>> search.best.loc, search.best.cov  # doctest: +SKIP
"""

from probapprox.potential._model import ModelPotential as ModelPotential
from probapprox.potential._model import dispersed_starts as dispersed_starts
from probapprox.potential._model import model_potential as model_potential
from probapprox.potential._model import nonfinite_site as nonfinite_site
from probapprox.potential._model import prior_draws as prior_draws
from probapprox.potential._model import unpack_flat as unpack_flat
from probapprox.potential._modes import MERGE_TOL as MERGE_TOL
from probapprox.potential._modes import Mode as Mode
from probapprox.potential._modes import ModeSearch as ModeSearch
from probapprox.potential._modes import find_modes as find_modes
from probapprox.potential._modes import laplace_factor as laplace_factor
from probapprox.potential._newton import NewtonResult as NewtonResult
from probapprox.potential._newton import hessian_diagonal as hessian_diagonal
from probapprox.potential._newton import lbfgs_map as lbfgs_map
from probapprox.potential._newton import newton_map as newton_map
from probapprox.potential._newton import value_grad_hess as value_grad_hess

__all__ = [
    "unpack_flat",
    "Mode",
    "ModeSearch",
    "ModelPotential",
    "NewtonResult",
    "dispersed_starts",
    "prior_draws",
    "find_modes",
    "hessian_diagonal",
    "laplace_factor",
    "lbfgs_map",
    "model_potential",
    "newton_map",
    "nonfinite_site",
    "value_grad_hess",
]
