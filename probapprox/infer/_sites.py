"""Plain-data description of a model's latent sites, and a stand-in model built from it.

The stand-in model has the same latent sites (names, order, shapes, supports,
plates) as the original but no data: it samples each site from an
``ImproperUniform`` on the site's support. Building a guide on it reproduces the
original guide's parameter layout and transforms, which is all a guide needs
to sample from fitted parameters (NumPyro's guides otherwise need the model's
data to set themselves up, see numpyro#1160).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

__all__ = ["describe_sites", "stand_in_model", "constraint_to_data", "constraint_from_data"]


def constraint_to_data(c: constraints.Constraint) -> dict[str, Any]:
    """Describe a NumPyro constraint by its class name and attributes."""
    attrs = {}
    for k, v in vars(c).items():
        if isinstance(v, constraints.Constraint):
            attrs[k] = {"constraint": constraint_to_data(v)}
        else:
            attrs[k] = {"value": np.asarray(v).tolist()}
    return {"class": type(c).__name__, "attrs": attrs}


def constraint_from_data(data: dict[str, Any]) -> constraints.Constraint:
    """Rebuild a constraint described by :func:`constraint_to_data`."""
    cls = getattr(constraints, data["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, constraints.Constraint)):
        raise ValueError(f"Unknown NumPyro constraint class {data['class']!r} in saved fit.")
    obj = cls.__new__(cls)
    for k, v in data["attrs"].items():
        if "constraint" in v:
            setattr(obj, k, constraint_from_data(v["constraint"]))
        else:
            value = np.asarray(v["value"])
            setattr(obj, k, value.item() if value.ndim == 0 else value)
    return obj


def describe_sites(prototype_trace: dict) -> list[dict[str, Any]]:
    """Latent sample sites of a prototype trace as plain data, in trace order."""
    sites = []
    for name, s in prototype_trace.items():
        if s["type"] != "sample" or s["is_observed"]:
            continue
        fn = s["fn"]
        sites.append(
            {
                "name": name,
                "batch_shape": list(fn.batch_shape),
                "event_shape": list(fn.event_shape),
                "support": constraint_to_data(fn.support),
                "plates": [
                    {"name": f.name, "size": int(f.size), "dim": f.dim}
                    for f in s["cond_indep_stack"]
                ],
            }
        )
    return sites


def stand_in_model(sites: list[dict[str, Any]]) -> Callable[..., None]:
    """A data-free model with the latent sites described by :func:`describe_sites`."""
    supports = [constraint_from_data(s["support"]) for s in sites]

    def model(*args: Any, **kwargs: Any) -> None:
        for s, support in zip(sites, supports, strict=True):
            with ExitStack() as stack:
                for p in reversed(s["plates"]):
                    stack.enter_context(numpyro.plate(p["name"], p["size"], dim=p["dim"]))
                fn = dist.ImproperUniform(support, tuple(s["batch_shape"]), tuple(s["event_shape"]))
                numpyro.sample(s["name"], fn)

    return model
