"""Laplace approximations around a MAP for classifiers (GGN / Hessian / empirical Fisher).

>>> import probapprox.laplace as pl  # doctest: +SKIP
>>> lap = pl.fit_laplace(apply_fn, params_map, X, y, structure="full")  # doctest: +SKIP
>>> lap = lap.optimize_prior_precision(method="marglik")  # doctest: +SKIP
>>> mean, cov = lap.logits(X_new)  # doctest: +SKIP

Structures: ``full``, ``diag``, ``lowrank`` (all parameters or the last layer) and ``kron``
(KFAC: the last layer, or every layer of an :class:`MLP`).
Reference: Daxberger et al. (2021), "Laplace Redux", NeurIPS.
Nothing here sets ``jax.config``; float64 needs ``jax_enable_x64`` in the caller.
"""

from probapprox.laplace._fit import fit_laplace as fit_laplace
from probapprox.laplace._laplace import Laplace as Laplace
from probapprox.laplace._mlp import MLP as MLP
from probapprox.laplace._mlp import mlp_apply as mlp_apply
from probapprox.laplace._mlp import mlp_features as mlp_features
from probapprox.laplace._mlp import mlp_init as mlp_init

__all__ = [
    "MLP",
    "Laplace",
    "fit_laplace",
    "mlp_apply",
    "mlp_features",
    "mlp_init",
]
