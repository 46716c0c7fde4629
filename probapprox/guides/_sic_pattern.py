"""The pattern of an ``AutoSIC`` guide: taken from the model's ``VecchiaGP``, saved as plain data.

A saved fit stores its guide's constructor arguments as JSON (``probapprox.infer``), and the
guide needs the pattern's integer arrays to sample without the model's data. They are stored
in that configuration as little-endian int32 (``perm``, ``idx``, ``anc``) and float64
(``ell``) bytes, zlib-compressed and base64-encoded, with their shapes: plain data decoded
with an explicit dtype (no pickle). The size is O(n (m + a)), the order of the inputs ``X``.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

from probapprox.gp import VecchiaGP
from probapprox.ordering import Pattern

__all__ = ["as_pattern", "pattern_from_data", "pattern_to_data", "resolve_pattern", "same_pattern"]

_FORMAT = "probapprox-pattern-1"
_DTYPES = {"perm": "<i4", "idx": "<i4", "anc": "<i4", "ell": "<f8"}


def _encode(arr: np.ndarray, dtype: str) -> dict[str, Any]:
    raw = np.ascontiguousarray(arr, dtype=dtype).tobytes()
    return {"shape": list(arr.shape), "data": base64.b64encode(zlib.compress(raw)).decode("ascii")}


def _decode(item: dict[str, Any], dtype: str) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(item["data"]))
    return np.frombuffer(raw, dtype=dtype).reshape(item["shape"]).astype(dtype[1:])


def pattern_to_data(pattern: Pattern) -> dict[str, Any]:
    """JSON-able description of ``pattern`` (arrays compressed; see the module docstring)."""
    ls = pattern.lengthscale
    return {
        "format": _FORMAT,
        "rho": pattern.rho,
        "num_neighbors": pattern.num_neighbors,
        "lengthscale": None if ls is None else np.asarray(ls, dtype=float).tolist(),
        "arrays": {k: _encode(np.asarray(getattr(pattern, k)), t) for k, t in _DTYPES.items()},
    }


def pattern_from_data(data: dict[str, Any]) -> Pattern:
    """Rebuild the :class:`Pattern` described by :func:`pattern_to_data`."""
    arrays = {k: _decode(data["arrays"][k], t) for k, t in _DTYPES.items()}
    ls = data["lengthscale"]
    return Pattern(
        perm=arrays["perm"].astype(np.int64),
        ell=arrays["ell"],
        idx=arrays["idx"],
        anc=arrays["anc"],
        rho=data["rho"],
        num_neighbors=data["num_neighbors"],
        lengthscale=None if ls is None else np.asarray(ls),
    )


def as_pattern(owner: str, value: Any) -> Pattern | None:
    """``None``, a :class:`Pattern`, or the saved form of one (from ``get_config``) as a Pattern."""
    if value is None or isinstance(value, Pattern):
        return value
    if isinstance(value, dict) and value.get("format") == _FORMAT:
        return pattern_from_data(value)
    raise TypeError(
        f"{owner}(pattern=...) expects a probapprox.ordering.Pattern (from "
        f"probapprox.ordering.build_pattern(X, ...)) or None; got {type(value).__name__}."
    )


def same_pattern(a: Pattern, b: Pattern) -> bool:
    """Whether two patterns have the same ordering, sparsity pattern and ancestor sets."""
    if a is b:
        return True
    return all(
        np.array_equal(np.asarray(getattr(a, k)), np.asarray(getattr(b, k)))
        for k in ("perm", "idx", "anc")
    )


def resolve_pattern(owner: str, site: str, given: Pattern | None, prior: Any, n: int) -> Pattern:
    """The guide's pattern: the prior's for a ``VecchiaGP`` site (``given`` must equal it).

    Raises:
        ValueError: ``given`` differs from the prior's pattern, is missing for a site that is
            not a ``VecchiaGP``, or has a size other than the site's ``n``.

    """
    if isinstance(prior, VecchiaGP):
        if given is not None and not same_pattern(given, prior.pattern):
            raise ValueError(
                f"{owner}(pattern=...) differs from the pattern of the model's VecchiaGP site "
                f"{site!r} (q must live on the prior's pattern); leave pattern=None to use the "
                "prior's. After probapprox.load: the model's data differ from the fit's."
            )
        given = prior.pattern
    elif given is None:
        raise ValueError(
            f"{owner}(pattern=...) is required: site {site!r} is a {type(prior).__name__}, not a "
            "probapprox.gp.VecchiaGP. Pass pattern=probapprox.ordering.build_pattern(X, ...) for "
            "the inputs of the site."
        )
    if given.n != n:
        raise ValueError(
            f"{owner}(pattern=...) has n = {given.n} points but site {site!r} has {n} values; "
            "build the pattern from the site's inputs."
        )
    return given
