r"""Positive-parameter helpers shared by kernels and likelihoods (pure JAX, no numpyro).

Kernels and likelihoods are frozen objects registered as JAX pytrees: their positive
parameters are the leaves (so ``jax.grad`` / ``jax.jit`` see them) and their static
configuration (a link name, a quadrature order) is the auxiliary data. Parameters are
stored on the positive scale; a fit moves them through the log map
:math:`\theta = \log p`, :math:`p = e^{\theta}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Frozen", "as_positive", "check_unconstrained", "register_frozen_pytree"]

T = TypeVar("T", bound=type)


class Frozen:
    """Mixin that forbids attribute assignment after construction (use ``object.__setattr__``)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__} is frozen; build a new one instead of setting {name!r}."
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; cannot delete {name!r}.")

    def __setstate__(self, state: Any) -> None:
        """Restore slots when unpickling or copying (``pickle`` would call ``setattr``)."""
        _, slots = state if isinstance(state, tuple) else (state, None)
        for name, value in (slots or {}).items():
            object.__setattr__(self, name, value)


def _is_traced(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def as_positive(owner: str, name: str, value: Any, *, max_ndim: int = 0) -> jax.Array:
    """Return ``value`` as a float array after checking it is finite and > 0.

    Args:
        owner: the class name, used in the error message.
        name: the argument name, used in the error message.
        value: a number or array-like; traced values are converted without a value check
            (the check needs concrete numbers).
        max_ndim: 0 for a scalar parameter, 1 to also allow a vector (ARD lengthscales).

    Returns:
        ``jnp.asarray(value)`` in a floating dtype.

    Raises:
        TypeError: if ``value`` is not numeric (e.g. a string, ``None`` or a bool).
        ValueError: if it has more than ``max_ndim`` dimensions, is empty, or is not
            finite and positive.

    """
    if _is_traced(value):
        arr = jnp.asarray(value)
        if arr.ndim > max_ndim:
            raise ValueError(f"{owner}({name}=...) expects ndim <= {max_ndim}; got {arr.shape}.")
        return arr.astype(jnp.result_type(arr, 1.0))
    if isinstance(value, bool | str) or value is None:
        raise TypeError(f"{owner}({name}=...) expects a positive number; got {value!r}.")
    try:
        host = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{owner}({name}=...) expects a positive number; got {value!r}.") from err
    shape_word = "a positive number" if max_ndim == 0 else "a positive number or 1-D array"
    if host.ndim > max_ndim or host.size == 0:
        raise ValueError(f"{owner}({name}=...) expects {shape_word}; got shape {host.shape}.")
    if not np.all(np.isfinite(host) & (host > 0)):
        raise ValueError(
            f"{owner}({name}=...) expects finite values > 0; got {value!r}. "
            f"Pass {name}=exp(log_{name}) if you hold it on the log scale."
        )
    arr = jnp.asarray(value)
    return arr.astype(jnp.result_type(arr, 1.0))


def check_unconstrained(owner: str, params: Any, names: tuple[str, ...]) -> Mapping[str, Any]:
    """Check that ``params`` is a mapping with exactly the keys ``log_<name>`` for ``names``.

    Raises:
        TypeError: if ``params`` is not a mapping.
        ValueError: if keys are missing or unexpected (the message lists both).

    """
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{owner}.from_unconstrained(params=...) expects a dict as returned by "
            f"to_unconstrained(); got {type(params).__name__}."
        )
    expected = {f"log_{n}" for n in names}
    if set(params) != expected:
        raise ValueError(
            f"{owner}.from_unconstrained(params=...) expects keys {sorted(expected)}; "
            f"got {sorted(params)}."
        )
    return params


def register_frozen_pytree(data_fields: tuple[str, ...], meta_fields: tuple[str, ...]) -> Any:
    """Class decorator: register a frozen class as a pytree, leaves = ``data_fields``.

    Unflattening bypasses ``__init__`` (so JAX's internal placeholder leaves never meet the
    positivity checks) and sets the attributes directly.
    """

    def decorate(cls: T) -> T:
        def flatten(obj: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
            children = tuple(getattr(obj, f) for f in data_fields)
            return children, tuple(getattr(obj, f) for f in meta_fields)

        def unflatten(aux: tuple[Any, ...], children: Any) -> Any:
            obj = object.__new__(cls)
            for field, value in zip(data_fields, children, strict=True):
                object.__setattr__(obj, field, value)
            for field, value in zip(meta_fields, aux, strict=True):
                object.__setattr__(obj, field, value)
            return obj

        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        return cls

    return decorate
