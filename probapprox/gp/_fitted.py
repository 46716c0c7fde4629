"""Typed records of a latent-GP fit: the ordered data, the fit configuration and the result."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from probapprox.families.sic_gaussian import SICParams
from probapprox.gp._exact import ExactFit
from probapprox.gp._gp_data import GPData
from probapprox.ordering import Pattern

__all__ = ["FitConfig", "FittedGP", "GPData"]


class FitConfig(NamedTuple):
    """What the fit needs of a :class:`probapprox.gp.LatentGP` (its constructor arguments)."""

    rho: float
    num_neighbors: int | None
    nugget: float
    mean: float
    diagonal: bool
    init: str
    max_num_ancestor: int | None


class FittedGP(NamedTuple):
    """The result of :meth:`probapprox.gp.LatentGP.fit` (``gp.fitted_``).

    Exactly one of ``params`` (the SIC q on a sparse pattern, with ``pattern`` and ``data``)
    and ``exact`` (the dense-pattern q, :mod:`probapprox.gp._exact`) is set.

    Attributes:
        kernel: the fitted kernel.
        likelihood: the fitted likelihood.
        history: minus the ELBO per epoch (sparse) or per site convergence (exact).
        num_skipped: minibatch steps skipped for a non-finite loss or gradient.
        newton_steps: Newton steps of each stage's Laplace initialisation (sparse), or the
            number of CVI iterations (exact).
        pattern: the final ordering, pattern and ancestor sets (sparse mode).
        data: the ordered training data (sparse mode).
        params: q's parameters in maximin order (sparse mode).
        exact: the exact-mode q (dense pattern).

    """

    kernel: Any
    likelihood: Any
    history: np.ndarray
    num_skipped: int
    newton_steps: tuple[int, ...]
    pattern: Pattern | None = None
    data: GPData | None = None
    params: SICParams | None = None
    exact: ExactFit | None = None
