"""Checks of a model's data at its initial points, before anything is compiled.

The model is run (eagerly, no ``jit``) at two initial points drawn as NumPyro's default
``init_to_uniform`` draws them. A problem is reported only when it holds at both points
and does not move with the latent values, so it is a property of the data, never of an
unlucky initial point:

* an observed value outside its distribution's own ``support`` (``support.check``: NaN in a
  real site, a Bernoulli label 2, a Poisson count −1 or 2.5), masked entries excepted;
* a ``numpyro.factor`` whose log-factor is NaN or ±inf;
* a distribution parameter outside its ``arg_constraints`` (NaN or inf covariates, a negative
  scale) when it does not depend on the latent values or a model argument holds
  non-finite values.

Messages name the site, the bad value and its index, the model argument it comes from
(found by matching values, by the model's parameter names) and the fix.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import numpyro
from numpyro import handlers
from numpyro.distributions import constraints
from numpyro.infer.initialization import init_to_uniform

__all__ = ["trace_at_inits", "check_model_data", "argument_names"]

_OWNER = "probapprox.fit"
_NUM_POINTS = 2
_MORE_POINTS = 20  # tried before a data error is raised (see _same_at_more_points)


def trace_at_inits(
    model: Callable, args: tuple, kwargs: dict, seeds: range = range(_NUM_POINTS)
) -> list[dict] | None:
    """Traces of ``model`` at ``init_to_uniform`` points (one per seed); ``None``: it fails."""
    traces = []
    for seed in seeds:
        fn = handlers.substitute(handlers.seed(model, seed), substitute_fn=init_to_uniform)
        try:
            with handlers.block(), numpyro.validation_enabled(False):
                traces.append(handlers.trace(fn).get_trace(*args, **kwargs))
        except Exception:  # noqa: BLE001 - the model's own error is raised by SVI.init
            return None
    return traces


def argument_names(model: Callable, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
    """``(name, leaf)`` for every array leaf of the model's arguments, named for messages."""
    try:
        params = list(inspect.signature(model).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    out = []
    for i, a in enumerate(args):
        base = f"'{positional[i]}'" if i < len(positional) else f"#{i} (positional)"
        out.extend(_leaves(base, a))
    for k, v in kwargs.items():
        out.extend(_leaves(f"'{k}'", v))
    return out


def _leaves(base: str, value: Any) -> list[tuple[str, Any]]:
    try:
        flat, _ = jax.tree_util.tree_flatten_with_path(value)
    except Exception:  # noqa: BLE001
        return []
    out = []
    for path, leaf in flat:
        if isinstance(leaf, np.ndarray | jax.Array | float | int) and not isinstance(leaf, bool):
            out.append((base + jax.tree_util.keystr(path), leaf))
    return out


def _float_nonfinite(x: Any) -> np.ndarray | None:
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.inexact):
        return None
    return ~np.isfinite(a)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _where(idx: tuple[int, ...]) -> str:
    return f" at index {idx}" if idx else ""


def _local_blocks(x: Any) -> list[tuple[tuple[int, ...], Any]]:
    """``[(offset, block)]``: the whole value, or this process's blocks of a multi-process array.

    An array spread over several processes (``probapprox.distributed.shard_rows``) cannot be
    read whole here; each process checks the blocks it holds.
    """
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        out = []
        for shard in x.addressable_shards:
            offset = tuple(s.start or 0 for s in shard.index)
            out.append((offset, np.asarray(shard.data)))
        return out
    return [((0,) * np.ndim(x), x)]


def _nonfinite_args(named: list[tuple[str, Any]]) -> list[str]:
    notes = []
    for base, whole in named:
        for offset, leaf in _local_blocks(whole):
            note = _nonfinite_note(base, leaf, offset)
            if note:
                notes.append(note)
                break
    return notes


def _nonfinite_note(name: str, leaf: Any, offset: tuple[int, ...]) -> str | None:
    bad = _float_nonfinite(leaf)
    if bad is not None and bad.any():
        idx = _first(bad) if bad.ndim else ()
        val = np.asarray(leaf)[idx] if idx else np.asarray(leaf)
        where = tuple(i + o for i, o in zip(idx, offset, strict=True))
        return (
            f"model argument {name} holds {int(bad.sum())} non-finite value(s), the first "
            f"{float(val)!r}{_where(where)}"
        )
    return None


def _readable(x: Any) -> bool:
    """Whether this process can read ``x`` whole (not a block of a multi-process array)."""
    return not isinstance(x, jax.Array) or x.is_fully_addressable


def _source(value: Any, named: list[tuple[str, Any]]) -> str:
    if not _readable(value):
        return ""
    a = np.asarray(value)
    for name, leaf in named:
        if not _readable(leaf):
            continue
        b = np.asarray(leaf)
        if b.shape == a.shape and np.array_equal(
            a, b, equal_nan=np.issubdtype(a.dtype, np.inexact)
        ):
            return f" (it is the model argument {name})"
    return ""


def _support_fix(support: constraints.Constraint, fn: Any) -> str:
    name = type(fn).__name__
    if support is constraints.boolean:
        return f"{name} labels must be 0 or 1 (recode them, e.g. y = (labels == positive_class))"
    if support is constraints.nonnegative_integer:
        return f"{name} counts must be integers >= 0"
    if isinstance(support, constraints.integer_interval):
        return f"{name} labels must be integers in {support.lower_bound}..{support.upper_bound}"
    if support is constraints.real:
        return "values must be finite: remove or impute the missing (NaN) or infinite entries"
    return f"values must lie in the support {support} of {name}"


def _unwrap(fn: Any) -> tuple[Any, np.ndarray | None]:
    """The innermost distribution and the combined mask of ``MaskedDistribution`` wrappers."""
    mask = None
    while hasattr(fn, "base_dist"):
        m = getattr(fn, "_mask", None)
        if m is not None and not isinstance(m, bool):
            mask = np.asarray(m) if mask is None else mask & np.asarray(m)
        elif m is False:
            mask = np.zeros((), bool)
        fn = fn.base_dist
    return fn, mask


def _observed_problem(name: str, site: dict, named: list) -> str | None:
    fn = site["fn"]
    if type(fn).__name__ == "Unit":  # numpyro.factor
        bad = _float_nonfinite(fn.log_factor)
        if bad is not None and bad.any():
            idx = _first(bad) if bad.ndim else ()
            val = np.asarray(fn.log_factor)[idx] if idx else np.asarray(fn.log_factor)
            return (
                f"numpyro.factor site {name!r} has log-factor {float(val)!r}{_where(idx)} at "
                f"each of the {_NUM_POINTS + _MORE_POINTS} initial points tried; a factor must be "
                "finite where the model has mass (−inf or NaN at every point tried means no valid "
                "initial point). Check the data it is computed from"
            )
        return None
    support = getattr(fn, "support", None)
    if support is None or site["value"] is None:
        return None
    value = site["value"]
    try:
        ok = np.asarray(support.check(value))
    except Exception:  # noqa: BLE001 - a support numpy cannot check
        return None
    inner, mask = _unwrap(fn)
    site_mask = site.get("mask")
    bad = ~ok
    for m in (mask, None if site_mask is None else np.asarray(site_mask)):
        if m is not None:
            bad = bad & np.broadcast_to(m, bad.shape)
    if not bad.any():
        return None
    idx = _first(bad) if bad.ndim else ()
    val = np.asarray(value)[idx] if idx else np.asarray(value)
    shown = val.item() if val.ndim == 0 else val.tolist()
    return (
        f"observed site {name!r} ({type(inner).__name__}) has {int(bad.sum())} value(s) outside "
        f"its support {support}, the first {shown!r}{_where(idx)}{_source(value, named)}. Fix "
        f"the data: {_support_fix(support, inner)}"
    )


def _param_problems(name: str, sites: list[dict], *, nonfinite_args: bool) -> str | None:
    fns = [_unwrap(s["fn"])[0] for s in sites]
    cons = getattr(fns[0], "arg_constraints", {}) or {}
    for p, c in cons.items():
        if p not in vars(fns[0]):
            continue
        try:
            vals = [np.asarray(getattr(f, p)) for f in fns]
            bad = [~np.asarray(c.check(v)) for v in vals]
        except Exception:  # noqa: BLE001
            continue
        if any(b.shape != bad[0].shape for b in bad):
            continue
        both = np.logical_and.reduce(bad)
        if not both.any():
            continue
        fixed = all(_same(v, vals[0]) for v in vals)
        nonfinite = _float_nonfinite(vals[0])
        if not (fixed or (nonfinite_args and nonfinite is not None and nonfinite.any())):
            continue
        idx = _first(both) if both.ndim else ()
        val = vals[0][idx] if idx else vals[0]
        shown = val.item() if val.ndim == 0 else val.tolist()
        return (
            f"site {name!r} ({type(fns[0]).__name__}) has parameter {p}={shown!r}{_where(idx)} "
            f"outside its constraint {c} at every initial point tried"
        )
    return None


def _same_at_more_points(model: Callable, args: tuple, kwargs: dict, name: str, value: Any) -> bool:
    """Whether the observed site keeps ``value`` at :data:`_MORE_POINTS` further initial points.

    Two points can both fall where a piecewise density is invalid (a factor that is −inf or NaN
    outside a region): the error is raised only if no further point finds a valid value.
    """
    more = trace_at_inits(model, args, kwargs, seeds=range(_NUM_POINTS, _NUM_POINTS + _MORE_POINTS))
    if more is None:
        return True
    for t in more:
        site = t.get(name)
        if site is None:
            return False
        v = site["fn"].log_factor if _is_factor(site) else site["value"]
        if not _same(v, value):
            return False
    return True


def check_model_data(model: Callable, traces: list[dict], args: tuple, kwargs: dict) -> None:
    """Raise ``ValueError`` naming the first data problem (see the module docstring)."""
    named = argument_names(model, args, kwargs)
    first = traces[0]
    for name, site in first.items():
        if site["type"] != "sample" or not site["is_observed"]:
            continue
        if any(name not in t for t in traces):
            continue
        values = [
            t[name]["fn"].log_factor if _is_factor(t[name]) else t[name]["value"] for t in traces
        ]
        if not all(_same(v, values[0]) for v in values):
            continue  # depends on the latent values: not a data problem
        problem = _observed_problem(name, site, named)
        if problem and _same_at_more_points(model, args, kwargs, name, values[0]):
            raise ValueError(f"{_OWNER}: {problem}.")
    bad_args = _nonfinite_args(named)
    for name, site in first.items():
        if site["type"] != "sample" or _is_factor(site) or any(name not in t for t in traces):
            continue
        problem = _param_problems(name, [t[name] for t in traces], nonfinite_args=bool(bad_args))
        if problem:
            cause = (
                "; " + "; ".join(bad_args) + ". Remove or impute the non-finite entries"
                if bad_args
                else ". It does not depend on the latent values, so it comes from the data or "
                "a constant in the model: fix that value"
            )
            raise ValueError(f"{_OWNER}: {problem}{cause}.")


def _is_factor(site: dict) -> bool:
    return type(site["fn"]).__name__ == "Unit"


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.inexact))
