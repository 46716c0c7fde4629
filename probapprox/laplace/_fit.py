"""``fit_laplace``: validate, build the flat model, compute the curvature structure."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from probapprox._checks import check_choice, check_int
from probapprox.laplace._curvature import (
    CURVATURES,
    curvature_matvec,
    dense_curvature,
    map_summary,
)
from probapprox.laplace._kron import BIAS_MODES, last_layer_kron
from probapprox.laplace._kron_mlp import mlp_kron
from probapprox.laplace._laplace import Laplace, prior_vector
from probapprox.laplace._lowrank import top_eigenpairs
from probapprox.laplace._mlp import MLP
from probapprox.laplace._network import FlatModel, build_model, check_data
from probapprox.laplace._nll_derivatives import LIKELIHOODS
from probapprox.laplace._structures import Diag, Full, clip_eigenvalues

__all__ = ["STRUCTURES", "SUBSETS", "fit_laplace"]

STRUCTURES = ("full", "diag", "kron", "lowrank")
SUBSETS = ("all", "last_layer")
_OWNER = "probapprox.laplace.fit_laplace"


def _structure(
    model: FlatModel, y: Array, likelihood: str, curvature: str, structure: str, **kw: Any
) -> tuple[Any, int, Array]:
    """Return the curvature structure, the number of clipped eigenvalues and the MAP NLL."""
    clip = curvature == "hessian"
    bs = kw["batch_size"]
    if structure in ("full", "diag"):
        diag = structure == "diag"
        g, nll_map, bad = dense_curvature(model, y, likelihood, curvature, diag=diag, batch_size=bs)
        _check_logits(nll_map, bad)
        _check_finite(g)
        if not diag:
            return (*Full.from_matrix(g, clip=clip), nll_map)
        d, n = clip_eigenvalues(g)
        return Diag(d), (n if clip else 0), nll_map
    nll_map, bad = map_summary(model, y, likelihood, bs)
    _check_logits(nll_map, bad)
    return (*_matrix_free(model, y, likelihood, curvature, structure, **kw), nll_map)


def _matrix_free(
    model: FlatModel, y: Array, likelihood: str, curvature: str, structure: str, **kw: Any
) -> tuple[Any, int]:
    clip, bs = curvature == "hessian", kw["batch_size"]
    if structure == "lowrank":
        p = model.theta.shape[0]
        rank = min(p, 100) if kw["rank"] is None else check_int(_OWNER, "rank", kw["rank"])
        if rank > p:
            raise ValueError(f"{_OWNER}(rank=...) must be <= the {p} parameters; got {rank}.")
        matvec = curvature_matvec(model, y, likelihood, curvature, batch_size=bs)
        key = jax.random.PRNGKey(0) if kw["key"] is None else kw["key"]
        lr, n = top_eigenpairs(matvec, p, rank, key, model.theta.dtype, clip=clip)
        _check_finite(lr.u)
        return lr, n
    if kw["activation"] is None:
        z = _logits(model.f, model.theta, model.inputs)
        kron = last_layer_kron(
            z, model.inputs, y, likelihood=likelihood, curvature=curvature, bias=kw["kron_bias"]
        )
    else:
        kron = mlp_kron(
            model, y, likelihood, curvature, kw["activation"], batch_size=bs,
            bias=kw["kron_bias"],
        )  # fmt: skip
    _check_finite(*[x for blk in kron.blocks for x in (blk.a, blk.b)])
    return kron, 0


# The flat logits as one program, shared by every fit (``f`` is hashable by value).
_logits = jax.jit(lambda f, theta, inputs: f(theta, inputs), static_argnums=0)


def _check_mlp_params(params: Any) -> None:
    ok = isinstance(params, list | tuple) and all(
        isinstance(layer, dict) and set(layer) == {"W", "b"} for layer in params
    )
    if not ok:
        raise ValueError(
            f"{_OWNER}(params_map=...) for structure='kron', subset='all' must be a list of "
            "dense layers dict(W=(d_in, d_out), b=(d_out,)) as made by mlp_init."
        )


def _check_logits(nll_map: Array, bad: Array) -> None:
    if float(bad) > 0 or not np.isfinite(float(nll_map)):
        raise ValueError(
            f"{_OWNER}: apply_fn(params_map, X) has non-finite logits at the MAP "
            f"({int(bad)} non-finite values); check params_map and X."
        )


@jax.jit
def _all_finite(arrays: tuple[Array, ...]) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


def _check_finite(*arrays: Array) -> None:
    if not bool(_all_finite(arrays)):
        raise ValueError(
            f"{_OWNER}: the curvature at params_map is not finite; check params_map and X "
            "(overflowing logits or NaN parameters)."
        )


def fit_laplace(
    apply_fn: Callable[[Any, Array], Array],
    params_map: Any,
    X: Any,
    y: Any,
    *,
    likelihood: str = "categorical",
    curvature: str = "ggn",
    structure: str = "full",
    subset: str = "all",
    prior_precision: float | Array = 1.0,
    rank: int | None = None,
    feature_fn: Callable[[Any, Array], Array] | None = None,
    last_layer: dict[str, Array] | None = None,
    batch_size: int = 128,
    dtype: Any = None,
    key: Array | None = None,
    kron_bias: str = "joint",
) -> Laplace:
    r"""Laplace approximation :math:`\mathcal N(\theta_*, (G + D)^{-1})` around a MAP.

    Args:
        apply_fn: Batched logits ``apply_fn(params, X) -> (N, C)`` (``(N,)`` or ``(N, 1)`` for
            ``likelihood="bernoulli"``). It is called on one-row slices to get per-example
            Jacobians, so it must not mix examples (no batch norm in training mode).
        params_map: MAP parameters, any pytree.
        X: Inputs with a leading data axis ``N``.
        y: Integer labels ``(N,)`` in ``[0, C)`` (0/1 for Bernoulli).
        likelihood: ``"categorical"`` (softmax cross-entropy, summed) or ``"bernoulli"``.
        curvature: ``"ggn"`` (generalised Gauss-Newton), ``"hessian"`` (exact; negative
            eigenvalues clipped at 0 with a warning) or ``"ef"`` (empirical Fisher).
        structure: ``"full"``, ``"diag"``, ``"kron"`` (KFAC, ``ggn``/``ef`` only; for
            ``subset="all"`` the network must be an :class:`~probapprox.laplace.MLP`) or
            ``"lowrank"`` (top-``rank`` eigenpairs plus the prior).
        subset: ``"all"`` parameters or the ``"last_layer"`` ``{"W", "b"}`` with features
            ``feature_fn(params_map, X)`` held at the MAP (``apply_fn = phi @ W + b``).
        prior_precision: Scalar :math:`\delta`, or one per prior group: each pytree leaf, or
            each KFAC block (layer ``(W, b)``) for ``kron``.
        rank: Rank for ``lowrank``; default ``min(P, 100)``.
        feature_fn: Features of the last layer, needed for ``subset="last_layer"``.
        last_layer: ``{"W": (H, C), "b": (C,)}``; default ``params_map[-1]`` for a list of
            dense layers (the :func:`probapprox.laplace.mlp_apply` format).
        batch_size: Examples per curvature batch (memory ``batch_size * C * P``).
        dtype: Cast parameters and floating inputs to this dtype (e.g. ``jnp.float64``).
        key: PRNG key for the randomised low-rank eigensolver (default ``PRNGKey(0)``).
        kron_bias: ``"joint"`` (KFAC in homogeneous coordinates: one factor for
            :math:`[W; b^\top]`, Martens & Grosse 2015) or ``"separate"`` (weight block
            :math:`A_W \otimes B` and an exact bias block :math:`N B`, as laplace-torch's
            KFAC backends do); ``kron`` only.

    Returns:
        An immutable :class:`Laplace`.

    Raises:
        ValueError: Unknown names, bad labels, length mismatch, non-finite logits or curvature,
            or ``kron`` with ``hessian``.
        NotImplementedError: ``kron`` with ``subset="all"`` for a network that is not an
            :class:`~probapprox.laplace.MLP`.

    References:
        Daxberger et al. (2021), "Laplace Redux -- Effortless Bayesian Deep Learning", NeurIPS.

    """
    check_choice(_OWNER, "likelihood", likelihood, LIKELIHOODS)
    check_choice(_OWNER, "curvature", curvature, CURVATURES)
    check_choice(_OWNER, "structure", structure, STRUCTURES)
    check_choice(_OWNER, "subset", subset, SUBSETS)
    check_choice(_OWNER, "kron_bias", kron_bias, BIAS_MODES)
    batch_size = check_int(_OWNER, "batch_size", batch_size)
    if structure == "kron" and curvature == "hessian":
        raise ValueError(
            f"{_OWNER}(structure='kron') is unsupported with curvature='hessian' (the Hessian "
            "has no Kronecker factorisation); use curvature='ggn' or 'ef'."
        )
    activation = None
    if structure == "kron" and subset == "all":
        if not isinstance(apply_fn, MLP):
            raise NotImplementedError(
                f"{_OWNER}(structure='kron', subset='all') needs apply_fn="
                "probapprox.laplace.MLP(activation) (dense layers of known form); use "
                "subset='last_layer' or structure='diag'/'lowrank' for other networks."
            )
        _check_mlp_params(params_map)
        activation = apply_fn.activation
    X, y = check_data(X, y, likelihood)
    model = build_model(
        apply_fn, params_map, X, likelihood=likelihood, subset=subset,
        feature_fn=feature_fn, last_layer=last_layer, dtype=dtype,
    )  # fmt: skip
    if likelihood == "categorical" and int(np.max(np.asarray(y))) >= model.num_classes:
        raise ValueError(
            f"{_OWNER}(y=...) labels must lie in [0, {model.num_classes}) (apply_fn returns "
            f"{model.num_classes} logits); got max label {int(np.max(np.asarray(y)))}."
        )
    curv, num_clipped, nll_map = _structure(
        model, y, likelihood, curvature, structure, batch_size=batch_size, rank=rank, key=key,
        activation=activation, kron_bias=kron_bias,
    )  # fmt: skip
    if num_clipped:
        warnings.warn(
            f"{_OWNER}: the Hessian at params_map is not positive semi-definite; clipped "
            f"{num_clipped} negative eigenvalue(s) at 0 (is params_map a MAP?).",
            UserWarning,
            stacklevel=2,
        )
    if structure == "kron" and subset == "last_layer":
        group_index = np.zeros(model.theta.shape[0], dtype=np.int32)
        names: tuple[str, ...] = ("last_layer",)
    elif structure == "kron":
        sizes = [np.size(layer["W"]) + np.size(layer["b"]) for layer in params_map]
        group_index = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
        names = tuple(f"[{i}]" for i in range(len(sizes)))
    else:
        group_index, names = model.group_index, model.group_names
    delta = prior_vector(_OWNER, prior_precision, len(names), model.theta.dtype)
    return Laplace(
        model=model, curv=curv, likelihood=likelihood, curvature=curvature,
        structure=structure, subset=subset, prior_precision=delta, group_index=group_index,
        group_names=names, nll_map=nll_map, num_data=int(y.shape[0]),
        num_clipped=num_clipped, batch_size=batch_size,
    )  # fmt: skip
