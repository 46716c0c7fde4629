r"""The Laplace rung of ``pa.fit(model, "auto")`` built from the mode search, without steps.

The multi-start search (:func:`probapprox.potential.find_modes`) has already run the damped
Newton MAP search on the flat unconstrained potential :math:`U` and computed, at the best
mode :math:`z_*`, the floored curvature :math:`|H|` and the factor :math:`C` with
:math:`CC^\top = |H|^{-1}` (one eigenvalue floor, :func:`probapprox.linalg.floor_eigenvalues`).
That *is* the Laplace approximation :math:`q = \mathcal N(z_*, CC^\top)`, so the rung sets
:class:`~probapprox.guides.AutoLaplace`'s parameters ``{prefix}_loc`` :math:`= z_*` and
``{prefix}_scale_tril`` :math:`= C` directly instead of running ``pa.fit`` (an SVI step
program, a second Newton search and a second Hessian: about 10-35 s of compilation on the
bundled models, measured on 2 loaded cores). The result is an ordinary
:class:`~probapprox.infer.FitResult` (sample, diagnostics, save/load).

Reference: MacKay (2003), "Information Theory, Inference, and Learning Algorithms", ch. 27.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from numpyro import handlers

from probapprox.guides import AutoLaplace
from probapprox.infer._result import FitResult
from probapprox.potential import ModeSearch

__all__ = ["gaussian_result", "laplace_result"]


def gaussian_result(
    model: Callable,
    guide: Any,
    args: tuple,
    kwargs: dict,
    loc: Any,
    scale_tril: Any,
    *,
    seed: int,
    info: dict[str, Any],
    loss: float,
) -> FitResult:
    """A ``FitResult`` of a full-covariance Gaussian guide at ``(loc, scale_tril)``, no steps.

    ``guide``: ``AutoLaplace(structure="full")`` or ``AutoMultivariateNormal`` (parameters
    ``{prefix}_loc`` and ``{prefix}_scale_tril``); it is set up by one eager trace, which runs
    no SVI program.
    """
    t = time.perf_counter()
    with handlers.seed(rng_seed=seed):  # sets up the guide's prototype (no step program)
        trace = handlers.trace(guide).get_trace(*args, **kwargs)
    dtype = jnp.asarray(trace[f"{guide.prefix}_loc"]["value"]).dtype
    params = {
        f"{guide.prefix}_loc": jnp.asarray(loc, dtype),
        f"{guide.prefix}_scale_tril": jnp.asarray(scale_tril, dtype),
    }
    base = {"guide": type(guide).__name__, "loss": "none", "optimizer": "none", "num_steps": 0}
    return FitResult(
        model=model,
        guide=guide,
        params=params,
        losses=np.array([loss]),
        args=args,
        kwargs=kwargs,
        seed=seed,
        seconds=time.perf_counter() - t,
        info=base | info,
        converged=True,
        converged_at=0,
    )


def laplace_result(
    model: Callable, args: tuple, kwargs: dict, search: ModeSearch, *, seed: int, dense_max: int
) -> FitResult | None:
    """A full-covariance ``AutoLaplace`` fit at ``search.best``, or ``None`` when not dense.

    ``None`` (the caller then fits ``AutoLaplace`` with ``pa.fit``) when the search was not
    dense (L-BFGS above ``dense_max``: only the Hessian diagonal is known) or found no mode.
    """
    mode = search.best
    if mode is None or not search.dense or np.ndim(mode.scale_tril) != 2:
        return None
    guide = AutoLaplace(model, structure="full", dense_max=dense_max)
    guide.num_clipped = int(mode.num_clipped)
    guide.map_info = {"potential": -float(mode.log_density), "start": "auto mode search"}
    info = {"laplace": "MAP and curvature of the auto mode search (damped Newton), no SVI steps"}
    return gaussian_result(
        model,
        guide,
        args,
        kwargs,
        mode.loc,
        mode.scale_tril,
        seed=seed,
        info=info,
        loss=-float(mode.log_density),
    )
