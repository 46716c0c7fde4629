"""Inference routines: the SVI runner ``fit`` and its result, checkpoints, save/load."""

from probapprox.infer._checkpoint import CheckpointMismatch as CheckpointMismatch
from probapprox.infer._fit import fit as fit
from probapprox.infer._nonfinite import NonFiniteError as NonFiniteError
from probapprox.infer._result import FitResult as FitResult
from probapprox.infer._serialize import load as load

__all__ = ["CheckpointMismatch", "FitResult", "NonFiniteError", "fit", "load"]
