"""Guide registry: names for the CLI and save/load, and JSON-able guide configuration.

A guide is rebuilt after :func:`probapprox.load` from its class name and a small
configuration dictionary; no code objects are pickled. NumPyro's built-in
autoguides are registered here; probapprox's own guides register themselves and
implement ``get_config() -> dict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpyro.infer import autoguide

__all__ = ["AUTO", "GUIDES", "register_guide", "make_guide", "guide_config", "guide_class"]

# Attributes of NumPyro's autoguides that fully describe their constructor
# arguments for the purpose of sampling from fitted parameters.
_NUMPYRO_CONFIG_ATTRS: dict[str, tuple[str, ...]] = {
    "AutoNormal": ("prefix", "_init_scale"),
    "AutoDiagonalNormal": ("prefix", "_init_scale"),
    "AutoMultivariateNormal": ("prefix", "_init_scale"),
    "AutoLowRankMultivariateNormal": ("prefix", "_init_scale", "rank"),
    "AutoLaplaceApproximation": ("prefix",),
    "AutoDelta": ("prefix",),
}

AUTO = "auto"  # the guide name that makes probapprox.fit choose the family (infer/_auto.py)
GUIDES: dict[str, type] = {name: getattr(autoguide, name) for name in _NUMPYRO_CONFIG_ATTRS}
"""Guide name -> class: NumPyro's autoguides and probapprox's (see :func:`register_guide`)."""


def register_guide(cls: type) -> type:
    """Register a guide class by its ``__name__`` (usable as a class decorator).

    The class must implement ``get_config()`` returning JSON-serialisable
    constructor keyword arguments.
    """
    if not callable(getattr(cls, "get_config", None)):
        raise TypeError(f"register_guide: {cls.__name__} must implement get_config() -> dict.")
    GUIDES[cls.__name__] = cls
    return cls


def guide_class(name: str) -> type:
    """Look up a registered guide class by name, with an error listing valid names."""
    if name == AUTO:
        raise ValueError(
            "'auto' is not a guide class: it asks probapprox.fit(model, 'auto', ...) to choose "
            "and certify the family itself; pass it to fit, not to make_guide."
        )
    try:
        return GUIDES[name]
    except KeyError:
        valid = ", ".join(sorted(GUIDES))
        raise ValueError(
            f"Unknown guide {name!r}. Valid guide names: {valid}, or {AUTO!r} in probapprox.fit."
        ) from None


def make_guide(name: str, model: Callable, **config: Any) -> Any:
    """Construct the registered guide ``name`` for ``model`` with keyword ``config``."""
    return guide_class(name)(model, **config)


def guide_config(guide: Any) -> dict[str, Any]:
    """Return ``{"class": name, "config": {...}, "layout": n}`` that rebuilds ``guide``.

    Raises:
        TypeError: if the guide class is neither registered nor provides ``get_config``.

    """
    name = type(guide).__name__
    if callable(getattr(guide, "get_config", None)):
        config = dict(guide.get_config())
    elif name in _NUMPYRO_CONFIG_ATTRS and GUIDES.get(name) is type(guide):
        config = {}
        for attr in _NUMPYRO_CONFIG_ATTRS[name]:
            value = getattr(guide, attr)
            if hasattr(value, "item"):
                value = value.item()
            config[attr.lstrip("_")] = value
    else:
        valid = ", ".join(sorted(GUIDES))
        raise TypeError(
            f"Cannot describe guide {name} for save(): supported guides are {valid}, or any "
            "guide class that implements get_config() and is registered with "
            "probapprox.guides.register_guide."
        )
    # a guide class whose parameters changed meaning declares PARAM_LAYOUT (default 1); load
    # refuses a file written with another layout instead of reading it as a different q
    return {"class": name, "config": config, "layout": getattr(type(guide), "PARAM_LAYOUT", 1)}
