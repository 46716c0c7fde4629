"""The registry of bundled models: ``MODELS`` (name -> :class:`BundledModel`) and ``get_model``."""

from probapprox.models import (
    conjugate,
    eight_schools,
    logistic,
    regression,
    rezende,
    synthetic_mog,
    toy_densities,
)
from probapprox.models._reference import BundledModel, Reference

__all__ = ["MODELS", "BundledModel", "Reference", "get_model"]

_MODULES = (conjugate, regression, eight_schools, logistic, toy_densities, rezende, synthetic_mog)


def _build() -> dict[str, BundledModel]:
    models: dict[str, BundledModel] = {}
    for module in _MODULES:
        for bundle in module.bundles():
            if bundle.name in models:
                raise RuntimeError(f"Duplicate bundled model name {bundle.name!r}.")
            models[bundle.name] = bundle
    return models


MODELS: dict[str, BundledModel] = _build()
"""Bundled model name -> :class:`BundledModel` (model, data and exact reference if known)."""


def get_model(name: str) -> BundledModel:
    """Return the bundled model called ``name``.

    Args:
        name: A key of :data:`MODELS`, e.g. ``"linear_regression"``.

    Raises:
        ValueError: If ``name`` is unknown; the message lists the valid names, sorted.

    """
    try:
        return MODELS[name]
    except KeyError:
        valid = ", ".join(sorted(MODELS))
        raise ValueError(f"Unknown bundled model {name!r}. Valid names: {valid}.") from None
