r"""Subsampled plates: the full-data model for the warm start and the diagnostics.

``numpyro.plate(name, N, subsample_size=b)`` draws ``b`` of the ``N`` indices at every step
and scales the plate's log density by :math:`N/b`, so the loss is an unbiased estimate of the
full-data negative ELBO. Everything that needs the *exact* log joint (the MAP and curvature
of the warm start, the PSIS k̂ and ELBO of ``diagnostics()``, the pointwise log-likelihood of
``to_arviz()``) evaluates the model under :class:`full_data`, which replaces each subsample by
``arange(N)`` (scale 1), the same model with every data point, deterministic and without a
random key.

Above a size the full data cost more than they are worth:

* the warm start runs on the full data while every subsampled plate has at most
  :data:`FULL_DATA_MAX` entries; above, it is skipped and ``info["warm_start"]`` says so;
* the draws of ``diagnostics()``/``to_arviz()`` evaluate the full-data log density while
  ``draws × N`` is at most :data:`FULL_DATA_ENTRIES` (so 10⁴ draws up to N = 20 000, 10³ up to
  2·10⁵); above, ``log p`` is the subsampled estimate (one random subsample per draw), and the
  diagnostics say that their k̂ comes from a noisy ``log p`` (the noise alone makes k̂ large).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from numpyro import handlers
from numpyro.primitives import Messenger

from probapprox.infer._static_trace import read_trace

__all__ = [
    "FULL_DATA_ENTRIES",
    "FULL_DATA_MAX",
    "full_data",
    "subsampled_plates",
    "evaluation_pair",
    "search_model",
    "trace_model",
]

FULL_DATA_MAX = 1_000_000
FULL_DATA_ENTRIES = 200_000_000


class full_data(Messenger):  # noqa: N801 - a NumPyro handler, named like NumPyro's
    """Run every subsampled plate on all its indices (``subsample_size = size``, scale 1)."""

    def process_message(self, msg: dict) -> None:
        if msg["type"] == "plate" and msg["value"] is None:
            size = msg["args"][0]
            msg["value"] = jnp.arange(size)
            msg["args"] = (size, size)


def subsampled_plates(model: Callable, args: tuple, kwargs: dict) -> dict[str, tuple[int, int]]:
    """``{plate: (size, subsample_size)}`` of the plates that subsample (one abstract trace)."""

    def read(tr: dict) -> dict[str, tuple[int, int]]:
        out = {}
        for name, site in tr.items():
            if site["type"] == "plate":
                size, sub = site["args"]
                if sub is not None and sub != size:
                    out[name] = (int(size), int(sub))
        return out

    try:
        return read_trace(model, args, kwargs, read)
    except Exception:  # noqa: BLE001 - a model that cannot be traced here fails later, clearly
        return {}


def _describe(plates: dict[str, tuple[int, int]]) -> str:
    return ", ".join(f"'{n}' ({b} of {s})" for n, (s, b) in plates.items())


def search_model(
    model: Callable, args: tuple, kwargs: dict, *, warm_start: bool
) -> tuple[Callable, bool, dict[str, Any]]:
    """The model the warm start searches on: ``(model, warm_start, info)``.

    Plain models pass through. With subsampled plates: the full-data model, or, above
    :data:`FULL_DATA_MAX`, no warm start and a note in ``info``.
    """
    plates = subsampled_plates(model, args, kwargs)
    if not plates:
        return model, warm_start, {}
    info = {"subsampled_plates": {n: list(v) for n, v in plates.items()}}
    largest = max(s for s, _ in plates.values())
    if warm_start and largest > FULL_DATA_MAX:
        note = (
            f"not applied: the subsampled plates {_describe(plates)} have more than "
            f"FULL_DATA_MAX = {FULL_DATA_MAX} entries, and the MAP needs the full data"
        )
        return model, False, {**info, "warm_start_note": note}
    return full_data(model), warm_start, info


class _FullDataGuide:
    """A guide run under :class:`full_data` (its attributes are the guide's)."""

    def __init__(self, guide: Any) -> None:
        self._guide = guide

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with full_data():
            return self._guide(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._guide, name)


def evaluation_pair(
    model: Callable | None, guide: Any, args: tuple, kwargs: dict, num_draws: int
) -> tuple[Callable | None, Any, str]:
    """``(model, guide, note)`` for ``num_draws`` draws with exact ``log p`` where affordable.

    ``note`` is empty when ``log p`` is exact, else says that it is a subsampled estimate.
    """
    if model is None:
        return model, guide, ""
    plates = subsampled_plates(model, args, kwargs)
    if not plates:
        return model, guide, ""
    largest = max(s for s, _ in plates.values())
    if num_draws * largest <= FULL_DATA_ENTRIES:
        return full_data(model), _FullDataGuide(guide), ""
    note = (
        f"log p is a subsampled estimate (plates {_describe(plates)}; {num_draws} draws x "
        f"{largest} points exceed FULL_DATA_ENTRIES = {FULL_DATA_ENTRIES}), so k̂ and the ELBO "
        "include the subsampling noise and k̂ is inflated; use fewer num_samples for the "
        "full-data log p"
    )
    return model, guide, note


def trace_model(model: Callable, args: tuple, kwargs: dict) -> dict:
    """One seeded trace of ``model`` (e.g. for its observed values)."""
    return handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs)
