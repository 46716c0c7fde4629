"""Export of fitted approximations to ArviZ (``xarray.DataTree``).

Draws from q are independent, so a single fit becomes one chain of ``S``
draws; several fits (e.g. restarts) become several chains, which is what
lets ArviZ's R̂ compare them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import arviz_base
import numpy as np
import xarray as xr

__all__ = ["to_datatree"]


def _chain(values: Mapping[str, np.ndarray], num_chains: int) -> dict[str, np.ndarray]:
    """Reshape ``(C*S, ...)`` (or ``(S, ...)`` when C = 1) into ``(C, S, ...)``."""
    out = {}
    for name, v in values.items():
        v = np.asarray(v)
        out[name] = v.reshape((num_chains, v.shape[0] // num_chains) + v.shape[1:])
    return out


def to_datatree(
    posterior: Mapping[str, np.ndarray],
    *,
    log_p: np.ndarray | None,
    log_q: np.ndarray,
    losses: np.ndarray | None = None,
    observed: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
    num_chains: int = 1,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Build an ArviZ ``DataTree`` from draws of an approximation.

    Args:
        posterior: site -> draws ``(S, ...)`` (latent and deterministic sites).
        log_p: ``log p(x, θ_s)`` per draw, or ``None`` if unavailable.
        log_q: ``log q(θ_s)`` per draw.
        losses: the optimisation trace (−ELBO per step), stored on a ``step`` dimension.
        observed: observed site -> data, for the ``observed_data`` group.
        log_likelihood: observed site -> pointwise log-likelihood ``(S, n)``.
        num_chains: split the draws into this many chains (e.g. one per restart).
        attrs: extra attributes (guide name, seed, ...), stored on every group.

    """
    stats = {"log_q": np.asarray(log_q)}
    if log_p is not None:
        stats["log_p"] = np.asarray(log_p)
        stats["log_weight"] = stats["log_p"] - stats["log_q"]
    groups: dict[str, dict[str, np.ndarray]] = {
        "posterior": _chain(posterior, num_chains),
        "sample_stats": _chain(stats, num_chains),
    }
    if log_likelihood:
        groups["log_likelihood"] = _chain(log_likelihood, num_chains)
    if observed:
        groups["observed_data"] = {k: np.asarray(v) for k, v in observed.items()}
    clean_attrs = {
        k: (v if isinstance(v, int | float | str) else str(v)) for k, v in (attrs or {}).items()
    }
    tree = arviz_base.from_dict(groups)
    if losses is not None:
        tree["sample_stats"]["loss"] = xr.DataArray(np.asarray(losses), dims=["step"])
    for group in groups:
        tree[group].attrs.update(clean_attrs)
    return tree
