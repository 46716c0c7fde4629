"""Inference routines: the SVI runner ``fit`` and its result, checkpoints, save/load."""

from probapprox.infer._auto_report import format_ladder as format_ladder
from probapprox.infer._checkpoint import CheckpointMismatch as CheckpointMismatch
from probapprox.infer._converge import ConvergenceRule as ConvergenceRule
from probapprox.infer._converge import ConvergenceWarning as ConvergenceWarning
from probapprox.infer._fit import fit as fit
from probapprox.infer._multistart import StartSummary as StartSummary
from probapprox.infer._nonfinite import NonFiniteError as NonFiniteError
from probapprox.infer._nonfinite import NonFiniteWarning as NonFiniteWarning
from probapprox.infer._result import FitResult as FitResult
from probapprox.infer._serialize import load as load
from probapprox.infer._stack import Stack as Stack

__all__ = [
    "CheckpointMismatch",
    "ConvergenceRule",
    "ConvergenceWarning",
    "FitResult",
    "NonFiniteError",
    "NonFiniteWarning",
    "Stack",
    "StartSummary",
    "fit",
    "format_ladder",
    "load",
]
