r"""The network seen by the Laplace core: its logits as a function of a flat parameter vector.

``subset="all"`` flattens the whole MAP pytree in :func:`jax.flatten_util.ravel_pytree` order.
``subset="last_layer"`` keeps the features :math:`\phi(x)` of the MAP network fixed and treats
only the last dense layer :math:`z = \phi(x) W + b` as random; its parameter vector is the
ravelled dict ``{"W": W, "b": b}``, i.e. the row-major ``vec`` of :math:`[W; b^\top]`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["FlatModel", "Unravel", "build_model", "check_data", "batch_indices", "to_device"]


def to_device(x: Any) -> Array:
    """``jnp.asarray(x)`` without compiling an XLA program.

    ``jnp.asarray`` of a numpy array compiles one per shape in a fresh process. JAX arrays
    pass through; the rest is transferred by :func:`jax.device_put` (same dtype rules).
    """
    return x if isinstance(x, jax.Array) else jax.device_put(np.asarray(x))


@dataclasses.dataclass(frozen=True)
class Unravel:
    """Inverse of the flattening (same order as :func:`jax.flatten_util.ravel_pytree`).

    Hashable by value (tree structure, shapes, dtypes), so jitted cores keyed on it are reused
    across fits of the same architecture instead of being recompiled.
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]

    @classmethod
    def ravel(cls, tree: Any, dtype: Any = None) -> tuple[Array, Unravel]:
        """Return the flat vector of ``tree`` (common ``dtype``) and its inverse."""
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        leaves = [jnp.asarray(x) for x in leaves]
        dt = dtype or jnp.result_type(*leaves)
        # on the host: one transfer, no eager XLA programs to compile in a fresh process
        flat = to_device(np.concatenate([np.ravel(np.asarray(x)).astype(dt) for x in leaves]))
        shapes = tuple(tuple(x.shape) for x in leaves)
        return flat, cls(treedef, shapes, tuple(str(x.dtype) for x in leaves))

    def __call__(self, flat: Array) -> Any:
        """Split ``flat`` back into the pytree (leaves cast to their original dtypes)."""
        sizes = [int(np.prod(s)) for s in self.shapes]
        parts = jnp.split(flat, np.cumsum(sizes)[:-1])
        leaves = [
            p.reshape(s).astype(d) for p, s, d in zip(parts, self.shapes, self.dtypes, strict=True)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


@dataclasses.dataclass(frozen=True)
class AllLogits:
    """``f(theta, X) = apply_fn(unravel(theta), X)`` reshaped to ``(B, C)`` (hashable)."""

    apply_fn: Callable[[Any, Array], Array]
    unravel: Unravel
    likelihood: str

    def __call__(self, theta: Array, xb: Array) -> Array:
        """Batched logits."""
        return _as_logits(self.apply_fn(self.unravel(theta), xb), xb.shape[0], self.likelihood)


@dataclasses.dataclass(frozen=True)
class LastLayerLogits:
    """``f(theta, phi) = phi @ W + b`` with ``{"W", "b"} = unravel(theta)`` (hashable)."""

    unravel: Unravel
    likelihood: str

    def __call__(self, theta: Array, phib: Array) -> Array:
        """Batched logits of the last layer."""
        w = self.unravel(theta)
        return _as_logits(phib @ w["W"] + w["b"], phib.shape[0], self.likelihood)


class FlatModel(NamedTuple):
    """Logits ``f(theta, inputs) -> (B, C)`` of a flat parameter vector and the data it uses.

    Attributes:
        f: Batched logits of the flat parameters.
        theta: Flat MAP parameters, shape ``(P,)``.
        unravel: Flat vector to the parameter pytree (the whole MAP or ``{"W", "b"}``).
        inputs: What ``f`` consumes: ``X`` (``subset="all"``) or the features ``phi(X)``.
        to_inputs: Maps new ``X`` to inputs of ``f``.
        group_index: Prior group of each parameter (its pytree leaf), shape ``(P,)``.
        group_names: One name per prior group.
        num_classes: Number of logits ``C``.

    """

    f: Callable[[Array, Array], Array]
    theta: Array
    unravel: Callable[[Array], Any]
    inputs: Array
    to_inputs: Callable[[Array], Array]
    group_index: np.ndarray
    group_names: tuple[str, ...]
    num_classes: int


def check_data(X: Any, y: Any, likelihood: str) -> tuple[Array, Array]:
    """Validate ``X`` and integer labels ``y``; raise ValueError naming the argument."""
    X = to_device(X)
    y_np = np.asarray(y)
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"fit_laplace(X=...) needs a leading data axis; got shape {X.shape}.")
    if y_np.ndim != 1 or y_np.shape[0] != X.shape[0]:
        raise ValueError(
            f"fit_laplace(y=...) must be 1-D with len(y) == len(X) = {X.shape[0]}; "
            f"got shape {y_np.shape}."
        )
    if not np.issubdtype(y_np.dtype, np.integer):
        if np.issubdtype(y_np.dtype, np.floating) and np.all(np.round(y_np) == y_np):
            y_np = y_np.astype(np.int64)
        else:
            raise ValueError(f"fit_laplace(y=...) must hold integer labels; got {y_np.dtype}.")
    if likelihood == "bernoulli" and not np.all((y_np == 0) | (y_np == 1)):
        raise ValueError("fit_laplace(y=...) must be 0/1 for likelihood='bernoulli'.")
    if np.any(y_np < 0):
        raise ValueError("fit_laplace(y=...) labels must be >= 0.")
    return X, to_device(y_np)


def _leaf_names(tree: Any) -> tuple[str, ...]:
    paths = jax.tree_util.tree_flatten_with_path(tree)[0]
    return tuple(jax.tree_util.keystr(p) or "param" for p, _ in paths)


def _group_index(tree: Any) -> np.ndarray:
    leaves = jax.tree_util.tree_leaves(tree)
    return np.concatenate([np.full(np.size(x), i, dtype=np.int32) for i, x in enumerate(leaves)])


def _as_logits(z: Array, n: int, likelihood: str) -> Array:
    if z.ndim == 0 or z.shape[0] != n or (likelihood == "bernoulli" and z.size != n):
        want = "(N,) or (N, 1)" if likelihood == "bernoulli" else "(N, C)"
        raise ValueError(
            f"fit_laplace(apply_fn=...) must return logits of shape {want} for {n} inputs "
            f"(likelihood={likelihood!r}: one logit per example for 'bernoulli'); got {z.shape}."
        )
    return z.reshape(n, -1)


def _default_last_layer(params: Any) -> dict[str, Array]:
    if isinstance(params, list | tuple) and params and isinstance(params[-1], dict):
        if {"W", "b"} <= set(params[-1]):
            return {"W": params[-1]["W"], "b": params[-1]["b"]}
    raise ValueError(
        "fit_laplace(subset='last_layer') needs last_layer={'W': W, 'b': b} unless params_map "
        "is a list of dense layers dict(W=..., b=...) (the probapprox.laplace.mlp_apply format)."
    )


# errors of a function that runs eagerly but not under jax.jit (value-dependent Python)
_NOT_JITTABLE = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)
_first_rows_jit = jax.jit(lambda fn, a, x, k: fn(a, x[:k]), static_argnums=(0, 3))


def _first_rows(fn: Callable, a: Any, x: Array, k: int) -> Array:
    """``fn(a, x[:k])`` as one compiled program, shared by every fit with the same ``fn``.

    The flat logits are hashable by value; an unhashable ``fn`` runs eagerly.
    """
    try:
        hash(fn)
    except TypeError:
        return fn(a, x[:k])
    try:
        return _first_rows_jit(fn, a, x, k)
    except _NOT_JITTABLE:
        return fn(a, x[:k])


@functools.lru_cache(maxsize=16)
def _jitted_cached(fn: Callable) -> Callable:
    return jax.jit(fn)


def _jitted(fn: Callable) -> Callable:
    """``jax.jit(fn)``, one wrapper per function (so later fits reuse its compilation).

    A fresh process otherwise compiles one small XLA program per eager operation of ``fn``.
    Unhashable callables are returned as they are.
    """
    try:
        return _jitted_cached(fn)
    except TypeError:
        return fn


def build_model(
    apply_fn: Callable[[Any, Array], Array],
    params: Any,
    X: Array,
    *,
    likelihood: str,
    subset: str,
    feature_fn: Callable[[Any, Array], Array] | None,
    last_layer: dict[str, Array] | None,
    dtype: Any,
) -> FlatModel:
    """Build the :class:`FlatModel` for ``subset`` ("all" or "last_layer")."""
    if dtype is not None:
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)
        X = X.astype(dtype) if jnp.issubdtype(X.dtype, jnp.floating) else X
    if subset == "all":
        theta, unravel = Unravel.ravel(params)
        f: Callable[[Array, Array], Array] = AllLogits(apply_fn, unravel, likelihood)
        inputs, to_inputs = X, (lambda x: x)
        group_index, names = _group_index(params), _leaf_names(params)
    else:
        if feature_fn is None:
            raise ValueError(
                "fit_laplace(subset='last_layer') needs feature_fn(params, X) -> features "
                "(N, H), e.g. functools.partial(probapprox.laplace.mlp_features, activation=...)."
            )
        ll = _default_last_layer(params) if last_layer is None else dict(last_layer)
        if set(ll) != {"W", "b"}:
            raise ValueError(f"fit_laplace(last_layer=...) needs keys 'W' and 'b'; got {set(ll)}.")
        if dtype is not None:
            ll = {k: jnp.asarray(v, dtype) for k, v in ll.items()}
        theta, unravel = Unravel.ravel(ll)
        f = LastLayerLogits(unravel, likelihood)

        features = _jitted(feature_fn)

        def to_inputs(x: Array) -> Array:
            try:
                return features(params, x).astype(theta.dtype)
            except _NOT_JITTABLE:  # a feature_fn that only runs eagerly
                return feature_fn(params, x).astype(theta.dtype)

        inputs = to_inputs(X)
        if inputs.ndim != 2 or inputs.shape[0] != X.shape[0]:
            raise ValueError(
                f"fit_laplace(feature_fn=...) must return (N, H) features; got {inputs.shape}."
            )
        k = min(8, X.shape[0])
        want = _as_logits(_first_rows(apply_fn, params, X, k), k, likelihood)
        if not np.allclose(
            np.asarray(_first_rows(f, theta, inputs, k)), np.asarray(want), atol=1e-4
        ):
            raise ValueError(
                "fit_laplace(feature_fn=..., last_layer=...) do not reproduce apply_fn: "
                "apply_fn(params, X) must equal feature_fn(params, X) @ W + b."
            )
        group_index = np.zeros(theta.shape[0], dtype=np.int32)
        group_index[np.size(ll["W"]) :] = 1
        names = ("['W']", "['b']")
    z = _first_rows(f, theta, inputs, min(8, X.shape[0]))
    return FlatModel(f, theta, unravel, inputs, to_inputs, group_index, names, int(z.shape[-1]))


def batch_indices(n: int, batch_size: int) -> tuple[Array, Array]:
    """Indices ``(nb, B)`` covering ``range(n)`` (padded with 0) and a 0/1 mask of real rows."""
    batch_size = min(batch_size, n)
    nb = -(-n // batch_size)
    idx = np.arange(nb * batch_size)
    mask = (idx < n).astype(np.float64)
    idx = np.where(idx < n, idx, 0)
    return to_device(idx.reshape(nb, batch_size)), to_device(mask.reshape(nb, batch_size))
