"""Save and load fits as one ``.npz`` file of plain data (no pickled code).

The file holds the fitted parameters, the loss trace, the guide's class name
and configuration, a description of the model's latent sites, and optionally
the model's arguments. Loading rebuilds the guide on the user's model with
those arguments, or, without them, on a data-free stand-in with the same
latent sites, so the loaded fit samples exactly as the original did.

Saving is atomic (temporary file, then ``os.replace``): a save killed midway leaves the old
file intact. Loading refuses anything that is not a complete saved fit with
:class:`~probapprox.NotAProbapproxFile`, and a model whose latent sites differ from the
saved ones (names, shapes or supports) with ``ValueError``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from numpyro import handlers

from probapprox.guides import guide_config, make_guide
from probapprox.infer._psis_stack import Stack
from probapprox.infer._pytree_io import (
    NotAProbapproxFile,
    NotEncodable,
    check_output_path,
    decode,
    encode,
    read_npz,
    write_npz,
)
from probapprox.infer._result import FitResult
from probapprox.infer._sites import describe_sites, stand_in_model

__all__ = ["save_fit", "load"]

_FORMAT = "probapprox-fit-1"
_WHAT = "a fit saved by probapprox (FitResult.save)"


def save_fit(result: FitResult, path: str | os.PathLike, *, include_data: bool) -> None:
    """Write ``result`` to ``path``; see :meth:`FitResult.save`."""
    store: dict[str, np.ndarray] = {}
    proto = result.guide.prototype_trace
    header: dict[str, Any] = {
        "format": _FORMAT,
        "guide": guide_config(result.guide),
        "sites": describe_sites(proto),
        "deterministic_sites": [n for n, s in proto.items() if s["type"] == "deterministic"],
        "params": encode(jax.device_get(result.params), store, "param_"),
        "seed": result.seed,
        "num_skipped": result.num_skipped,
        "seconds": result.seconds,
        "info": {k: v for k, v in result.info.items() if isinstance(v, str | int | float | list)},
        "converged": result.converged,
        "converged_at": result.converged_at,
        "stack": None,
        "data": None,
    }
    if result.stack is not None:
        header["stack"] = {
            "weights": np.asarray(result.stack.weights).tolist(),
            "params": [
                encode(jax.device_get(p), store, f"stack{i}_")
                for i, p in enumerate(result.stack.params)
            ],
        }
    if include_data and result.has_data:
        data_store: dict[str, np.ndarray] = {}
        try:
            header["data"] = encode(
                {"args": tuple(result.args), "kwargs": dict(result.kwargs)}, data_store, "data_"
            )
            store.update(data_store)
        except NotEncodable as err:
            warnings.warn(
                f"The model's arguments were not saved ({err}); pass them to probapprox.load "
                "to compute diagnostics or deterministic sites.",
                stacklevel=3,
            )
    store["losses"] = np.asarray(result.losses)
    write_npz(check_output_path("FitResult.save", "path", path, "fit.npz"), store, header)


def load(path: str | os.PathLike, model: Callable, *args: Any, **kwargs: Any) -> FitResult:
    """Load a fit saved with :meth:`FitResult.save`.

    Args:
        path: the saved file.
        model: the model the fit was made for (same latent sites).
        *args: model arguments; if omitted, those stored in the file are used, and if
            none were stored the fit can sample its latent sites but not evaluate the model.
        **kwargs: model keyword arguments.

    Returns:
        A :class:`FitResult` that samples exactly as the saved one for the same seed.

    """
    if not callable(model):
        raise TypeError(f"probapprox.load(model=...) expects a NumPyro model; got {model!r}.")
    header, data = read_npz(path, _FORMAT, _WHAT)
    try:
        params = jax.tree.map(jax.numpy.asarray, decode(header["params"], data))
        losses = np.array(data["losses"])
        stored = decode(header["data"], data) if header["data"] is not None else None
        stack = header.get("stack")
        if stack is not None:
            stack = Stack(
                [jax.tree.map(jax.numpy.asarray, decode(p, data)) for p in stack["params"]],
                np.asarray(stack["weights"]),
            )
        sites, guide_conf = header["sites"], header["guide"]
        needed = ("info", "deterministic_sites", "seed", "num_skipped", "seconds")
        missing = [k for k in needed if k not in header]
        missing += [k for k in ("class", "config") if k not in guide_conf]
        if missing:
            raise KeyError(f"header entries {missing} are missing")
    except (KeyError, TypeError, ValueError) as err:
        raise NotAProbapproxFile(
            f"{str(path)!r} is incomplete or corrupt, not {_WHAT} ({type(err).__name__}: {err})."
        ) from err
    if args or kwargs:
        has_data = True
    elif stored is not None:
        args, kwargs, has_data = tuple(stored["args"]), dict(stored["kwargs"]), True
    else:
        has_data = False
    guide_model = model if has_data else stand_in_model(sites)
    guide = make_guide(header["guide"]["class"], guide_model, **header["guide"]["config"])
    saved, current = header["guide"].get("layout", 1), getattr(type(guide), "PARAM_LAYOUT", 1)
    if saved != current:
        raise NotAProbapproxFile(
            f"{str(path)!r} holds a {type(guide).__name__} written with parameter layout "
            f"{saved}; this probapprox reads layout {current} (the guide's layers changed), so "
            "its parameters would describe a different distribution. Refit and save again."
        )
    tr = handlers.trace(handlers.seed(guide, 0)).get_trace(*args, **kwargs)
    proto = guide.prototype_trace if has_data else _model_trace(model)
    if proto is not None:
        _check_sites(describe_sites(proto), sites, path, has_data=has_data)
    _check_params(tr, params, header, path)
    info = dict(header["info"], deterministic_sites=header["deterministic_sites"])
    return FitResult(
        model=model,
        guide=guide,
        params=params,
        losses=losses,
        args=tuple(args),
        kwargs=dict(kwargs),
        seed=header["seed"],
        num_skipped=header["num_skipped"],
        seconds=header["seconds"],
        has_data=has_data,
        info=info,
        converged=header.get("converged"),
        converged_at=header.get("converged_at"),
        stack=stack,
    )


def _model_trace(model: Callable) -> dict | None:
    """The model's trace without arguments (a data-free load), or None if it needs them."""
    try:
        with handlers.block():
            return handlers.trace(handlers.seed(model, 0)).get_trace()
    except Exception:  # noqa: BLE001 - the model needs its data: its sites cannot be checked
        return None


def _check_sites(found: list[dict], saved: list[dict], path: Any, *, has_data: bool) -> None:
    """Refuse a model whose latent sites differ from the saved ones (names, shapes, supports).

    Without data the model runs with its observations missing, so its observed sites show up
    as latent: then only the saved sites are compared, and each must be there.
    """
    want = [s["name"] for s in saved]
    if not has_data:
        found = [s for s in found if s["name"] in want]
    names = [s["name"] for s in found]
    if names != want:
        raise ValueError(
            f"The model passed to probapprox.load has latent sites {names}, but the fit in "
            f"{str(path)!r} was made for a model with latent sites {want}."
        )
    for f, s in zip(found, saved, strict=True):
        for key in ("batch_shape", "event_shape", "support"):
            if f[key] != s[key]:
                what = {"support": "support"}.get(key, "shape")
                raise ValueError(
                    f"probapprox.load: latent site {f['name']!r} of the model has {key} "
                    f"{_show(f[key])}, but the fit in {str(path)!r} was made for {key} "
                    f"{_show(s[key])}. Pass the model the fit was made for (its draws would "
                    f"be transformed to the wrong {what} otherwise)."
                )


def _show(v: Any) -> str:
    if isinstance(v, dict) and "class" in v:
        return v["class"]
    return repr(tuple(v)) if isinstance(v, list) else repr(v)


def _check_params(tr: dict, params: dict, header: dict, path: Any) -> None:
    def shapes(tree: Any) -> Any:
        return jax.tree.map(np.shape, tree)

    expected = {n: shapes(s["value"]) for n, s in tr.items() if s["type"] == "param"}
    got = {n: shapes(v) for n, v in params.items()}
    # an empty placeholder is a parameter the guide fills after the fit (AutoLaplace factors)
    expected.update({n: got[n] for n, s in expected.items() if s == (0,) and n in got})
    if expected != got:
        raise ValueError(
            f"The guide rebuilt from {path} ({header['guide']['class']}) has parameters "
            f"{expected}, but the file holds {got}: the model differs from the one that was fitted."
        )
