"""One check of everything :func:`probapprox.fit` is given, before anything is compiled.

:func:`validate_fit_inputs` checks, in order: the option types (``progress``,
``skip_nonfinite``, ``resume``, ``loss``, ``callback``, ``init_params``), the checkpoint path
(its folder exists and is writable, and a file already there is a probapprox checkpoint),
that the model runs and has latent sites, the model's data at its initial points (see
:mod:`._validate_data`), that the guide was built for this model, and that every
``init_params`` key is a parameter of the guide. Each error names the argument or site, the
bad value and the fix.

It returns the checkpoint path carrying the fit's signature (a fingerprint of the model's
arguments and the model's sample sites: names, shapes, distributions, supports, and its log
density at a fixed point), which :func:`~._checkpoint.write_checkpoint` stores in the header and
:func:`~._checkpoint.read_checkpoint` compares on resume.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from numpyro import handlers

from probapprox._checks import check_int
from probapprox.infer._checkpoint import CheckpointPath, check_checkpoint_file
from probapprox.infer._mesh import host_value
from probapprox.infer._pytree_io import check_output_path
from probapprox.infer._sites import constraint_to_data
from probapprox.infer._validate_data import check_model_data, trace_at_inits

__all__ = ["validate_fit_inputs", "fit_signature", "check_draws"]

_OWNER = "probapprox.fit"


def check_draws(num_samples: Any, seed: Any) -> tuple[int, int]:
    """``FitResult`` draw arguments: ``num_samples >= 1`` and ``seed >= 0`` integers."""
    return (
        check_int("FitResult", "num_samples", num_samples),
        check_int("FitResult", "seed", seed, minimum=0),
    )


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{_OWNER}({name}=...) expects True or False; got {value!r}.")


def _check_loss(loss: Any) -> None:
    if loss is None:
        return
    if isinstance(loss, type):
        raise TypeError(
            f"{_OWNER}(loss=...) expects an ELBO instance; got the class {loss.__name__}. "
            f"Call it: loss={loss.__name__}()."
        )
    if not callable(getattr(loss, "loss", None)):
        raise TypeError(
            f"{_OWNER}(loss=...) expects a NumPyro ELBO estimator such as "
            "numpyro.infer.Trace_ELBO() or probapprox.estimators.PathELBO(); got "
            f"{loss!r} ({type(loss).__name__}). Leave it out for the guide's default."
        )


def _check_checkpoint(checkpoint: Any, *, resume: bool) -> None:
    path = check_output_path(_OWNER, "checkpoint", checkpoint, "fit.ckpt.npz")
    if path.exists():
        if path.stat().st_size and not os.access(path, os.R_OK | os.W_OK):
            raise PermissionError(
                f"{_OWNER}(checkpoint={str(path)!r}) exists but cannot be read and written."
            )
        check_checkpoint_file(path, resume=resume)


def _check_init_params(init_params: Any) -> None:
    if init_params is None:
        return
    if not isinstance(init_params, dict) or not all(isinstance(k, str) for k in init_params):
        raise TypeError(
            f"{_OWNER}(init_params=...) expects a dict from guide parameter names to initial "
            f"values; got {type(init_params).__name__}."
        )


def _latent(trace: dict) -> dict[str, dict]:
    return {n: s for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}


def _shapes(trace: dict) -> dict[str, tuple]:
    return {n: tuple(np.shape(s["value"])) for n, s in _latent(trace).items()}


def _check_guide_model(guide: Any, model: Callable, trace: dict, args: tuple, kw: dict) -> None:
    own = getattr(guide, "model", None)
    if own is None or own is model or not callable(own):
        return
    theirs = trace_at_inits(own, args, kw)
    mine, name = _shapes(trace), type(guide).__name__
    model_name = getattr(model, "__name__", repr(model))
    if theirs is None:
        raise ValueError(
            f"{_OWNER}(guide=...): the {name} was built for another model "
            f"({getattr(own, '__name__', own)!r}), which cannot run with these arguments. "
            f"Build the guide on this model: {name}({model_name})."
        )
    other = _shapes(theirs[0])
    if other != mine:
        raise ValueError(
            f"{_OWNER}(guide=...): the {name} was built for a model with latent sites "
            f"{other}, but model={model_name!r} has latent sites {mine}. Build the guide on "
            f"this model: {name}({model_name})."
        )


def _check_init_keys(guide: Any, init_params: dict, args: tuple, kwargs: dict) -> None:
    try:
        probe = copy.copy(guide)
        if hasattr(probe, "prototype_trace"):
            probe.prototype_trace = None
        with handlers.block():
            tr = handlers.trace(handlers.seed(probe, 0)).get_trace(*args, **kwargs)
    except Exception:  # noqa: BLE001 - SVI.init raises the guide's own error
        return
    names = sorted(n for n, s in tr.items() if s["type"] == "param")
    unknown = sorted(set(init_params) - set(names))
    if unknown:
        raise ValueError(
            f"{_OWNER}(init_params=...) has key(s) {unknown} that are not parameters of the "
            f"{type(guide).__name__}; its parameters are {names}."
        )


def _digest(args: tuple, kwargs: dict) -> str:
    h = hashlib.sha256()
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    h.update(str(treedef).encode())
    for leaf in leaves:
        if isinstance(leaf, np.ndarray | jax.Array | np.generic):
            # a multi-process array is gathered (every process fingerprints the same data, and
            # a checkpoint of a sharded fit resumes in one process)
            a = np.ascontiguousarray(host_value(leaf))
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        elif isinstance(leaf, bool | int | float | complex | str | bytes | type(None)):
            h.update(repr(leaf).encode())
        else:
            h.update(type(leaf).__qualname__.encode())
    return h.hexdigest()[:32]


def fit_signature(traces: list[dict] | None, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The checkpoint signature: data fingerprint, site signature and a log-density check."""
    sig: dict[str, Any] = {"data_fingerprint": _digest(args, kwargs)}
    if traces is None:
        return sig
    sites, logp = [], 0.0
    for n, s in traces[0].items():
        if s["type"] != "sample":
            continue
        fn = s["fn"]
        sites.append(
            {
                "name": n,
                "observed": bool(s["is_observed"]),
                "distribution": type(fn).__name__,
                "shape": list(np.shape(s["value"])),
                "support": constraint_to_data(fn.support) if hasattr(fn, "support") else None,
            }
        )
        try:
            logp += float(np.sum(np.asarray(fn.log_prob(s["value"]))))
        except Exception:  # noqa: BLE001 - e.g. a site without a log density
            logp = float("nan")
    sig["model_sites"] = sites
    sig["model_log_density"] = f"{logp:.6g}"
    return sig


def validate_fit_inputs(
    model: Any,
    guide: Any,
    args: tuple,
    kwargs: dict,
    *,
    checkpoint: Any = None,
    resume: Any = True,
    init_params: Any = None,
    progress: Any = True,
    skip_nonfinite: Any = False,
    loss: Any = None,
    callback: Any = None,
    **_: Any,
) -> CheckpointPath | None:
    """Check the inputs of :func:`probapprox.fit` (see the module docstring).

    Called as ``validate_fit_inputs(**locals())`` at the top of ``fit``: it receives every
    argument of ``fit`` by name (those it does not check are ignored).

    Returns:
        ``checkpoint`` as a :class:`~._checkpoint.CheckpointPath` carrying the fit's
        signature, or ``None`` without a checkpoint.

    Raises:
        TypeError, ValueError, OSError: naming the argument or site, the value and the fix.

    """
    if not callable(model):
        raise TypeError(f"{_OWNER}(model=...) expects a NumPyro model (a callable); got {model!r}.")
    for name, value in (("progress", progress), ("skip_nonfinite", skip_nonfinite)):
        _check_bool(name, value)
    _check_bool("resume", resume)
    _check_loss(loss)
    if callback is not None and not callable(callback):
        raise TypeError(f"{_OWNER}(callback=...) expects a callable or None; got {callback!r}.")
    _check_init_params(init_params)
    if checkpoint is not None:
        _check_checkpoint(checkpoint, resume=resume)
    traces = trace_at_inits(model, args, kwargs)
    if traces is not None:
        if not _latent(traces[0]):
            raise ValueError(
                f"{_OWNER}(model=...): the model has no latent sample sites (every "
                "numpyro.sample has obs=...), so there is nothing to fit. Check that the "
                "parameters are numpyro.sample sites without obs."
            )
        check_model_data(model, traces, args, kwargs)
        if not isinstance(guide, str):
            _check_guide_model(guide, model, traces[0], args, kwargs)
    if init_params and not isinstance(guide, str):
        _check_init_keys(guide, init_params, args, kwargs)
    if checkpoint is None:
        return None
    return CheckpointPath(checkpoint, fit_signature(traces, args, kwargs))
