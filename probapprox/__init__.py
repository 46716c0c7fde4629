"""probapprox: approximate Bayesian inference for NumPyro.

>>> import probapprox as pa
>>> from numpyro.infer.autoguide import AutoMultivariateNormal
>>> result = pa.fit(model, AutoMultivariateNormal(model), X, y)  # doctest: +SKIP
>>> result.diagnostics(); result.to_arviz()  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

from probapprox import (
    diagnostics,
    distributed,
    estimators,
    families,
    gp,
    guides,
    infer,
    laplace,
    linalg,
    logits,
    optim,
    ordering,
    potential,
)
from probapprox.diagnostics import ApproximationWarning, Diagnostics
from probapprox.infer import (
    CheckpointMismatch,
    ConvergenceRule,
    ConvergenceWarning,
    FitResult,
    NonFiniteError,
    NonFiniteWarning,
    NotAProbapproxFile,
    fit,
    load,
)

try:
    __version__ = version("probapprox")
    """The installed version of probapprox (``0.0.0`` in a source tree never installed)."""
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ApproximationWarning",
    "CheckpointMismatch",
    "ConvergenceRule",
    "ConvergenceWarning",
    "Diagnostics",
    "FitResult",
    "NonFiniteError",
    "NonFiniteWarning",
    "NotAProbapproxFile",
    "__version__",
    "diagnostics",
    "distributed",
    "estimators",
    "families",
    "fit",
    "gp",
    "guides",
    "infer",
    "laplace",
    "linalg",
    "load",
    "logits",
    "optim",
    "ordering",
    "potential",
]
