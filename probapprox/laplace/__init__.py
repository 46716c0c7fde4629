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

# the NumPyro-model side, for guides.AutoLaplace; not in __all__
from probapprox.laplace._model_curvature import MODEL_CURVATURES as MODEL_CURVATURES  # noqa: E402
from probapprox.laplace._model_curvature import model_curvature as model_curvature  # noqa: E402
from probapprox.laplace._model_posterior import MODEL_STRUCTURES as MODEL_STRUCTURES  # noqa: E402
from probapprox.laplace._model_posterior import diag_posterior as diag_posterior  # noqa: E402
from probapprox.laplace._model_posterior import full_posterior as full_posterior  # noqa: E402
from probapprox.laplace._model_posterior import lowrank_posterior as lowrank_posterior  # noqa: E402

__all__ = [
    "MLP",
    "Laplace",
    "fit_laplace",
    "mlp_apply",
    "mlp_features",
    "mlp_init",
]
