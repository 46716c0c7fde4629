"""The staged host loop of :meth:`probapprox.gp.LatentGP.fit` (ordering → init → epochs)."""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from probapprox.families.sic_gaussian import DIAG_FLOOR
from probapprox.gp._fitted import FitConfig, FittedGP
from probapprox.gp._gp_data import GPData
from probapprox.gp._init import laplace_init, prior_init
from probapprox.gp._train import Setup, init_state, run_epochs
from probapprox.linalg import PaddedFactor, finite_columns, kl_optimal_columns
from probapprox.ordering import build_pattern

__all__ = ["fit_stages", "stage_data", "stage_pattern"]

_OWNER = "probapprox.gp.LatentGP.fit"
_MAX_STEP_BYTES = 8 * 2**30


def stage_pattern(cfg: FitConfig, kernel: Any, Xh: np.ndarray) -> Any:
    """The maximin ordering and pattern of ``Xh`` under the kernel's lengthscales."""
    scale = np.broadcast_to(np.asarray(kernel.lengthscale, np.float64), (Xh.shape[1],))
    return build_pattern(
        Xh,
        lengthscale=scale,
        rho=cfg.rho,
        num_neighbors=None if cfg.num_neighbors is None else min(cfg.num_neighbors, len(Xh)),
        max_num_ancestor=cfg.max_num_ancestor,
    )


def stage_data(
    cfg: FitConfig, kernel: Any, Xh: np.ndarray, yh: np.ndarray, pattern: Any = None
) -> tuple[Any, GPData, PaddedFactor]:
    """``(pattern, data, u)``: the ordered data and the prior factor U on the pattern."""
    pattern = stage_pattern(cfg, kernel, Xh) if pattern is None else pattern
    X = jnp.asarray(Xh[pattern.perm])
    idx = jnp.asarray(pattern.idx)
    anc = idx if cfg.diagonal else jnp.asarray(pattern.anc)
    u_vals = kl_optimal_columns(kernel, X, idx, cfg.nugget, batch_size=4096)
    bad = ~np.asarray(finite_columns(u_vals))
    if bad.any():
        raise ValueError(
            f"{_OWNER}: the kernel matrix is numerically singular on {int(bad.sum())} local "
            f"block(s) (kernel {kernel!r}, nugget {cfg.nugget}). Increase `nugget`, shorten "
            "the lengthscale, or enable 64-bit floats (the jax_enable_x64 option) in your script."
        )
    data = GPData(X, jnp.asarray(yh[pattern.perm]), idx, anc)
    return pattern, data, PaddedFactor(u_vals, idx)


def _check_step_memory(pattern: Any, batch_size: int) -> None:
    """Refuse a step whose O(b a m) gathered columns (and their gradients) would not fit."""
    a, m = pattern.max_ancestors, pattern.max_neighbors
    need = 128 * batch_size * a * m  # ~16 float64 (a, m) temporaries per column, fwd + grad
    if need > _MAX_STEP_BYTES:
        raise ValueError(
            f"{_OWNER}: the largest ancestor set has {a} points (mean "
            f"{pattern.mean_ancestors:.0f}), so one step of {batch_size} columns needs about "
            f"{need / 2**30:.1f} GiB. Pass max_num_ancestor= (e.g. {4 * pattern.max_neighbors}) "
            "to LatentGP, lower rho, or lower batch_size."
        )


def fit_stages(
    cfg: FitConfig,
    kernel: Any,
    lik: Any,
    Xh: np.ndarray,
    yh: np.ndarray,
    stages: tuple[int, ...],
    batch_size: int,
    seed: int,
    *,
    learn: bool,
    learning_rate: float,
    first_pattern: Any = None,
) -> FittedGP:
    """Run the stages; returns the ``fitted_`` record of :class:`probapprox.gp.LatentGP`."""
    diagonal = cfg.diagonal
    hyper = {"kernel": kernel.to_unconstrained(), "likelihood": lik.to_unconstrained()}
    setup = Setup(type(kernel), batch_size, cfg.nugget, DIAG_FLOOR, diagonal, learn)
    mu = jnp.asarray(cfg.mean, dtype=jnp.result_type(float))
    key = jax.random.PRNGKey(seed)
    history: list[float] = []
    newton_steps: list[int] = []
    skipped = 0
    pattern = data = params = None
    for s, epochs in enumerate(stages):
        if epochs == 0 and s > 0:
            continue
        kernel = type(kernel).from_unconstrained(hyper["kernel"])
        lik = lik.from_unconstrained(hyper["likelihood"])
        pattern, data, u = stage_data(cfg, kernel, Xh, yh, first_pattern if s == 0 else None)
        _check_step_memory(pattern, batch_size)
        if cfg.init == "laplace":
            params, steps = laplace_init(u, lik, data.y, mu, DIAG_FLOOR, diagonal=diagonal)
            newton_steps.append(int(steps))
            if int(steps) < 0:
                warnings.warn(
                    f"{_OWNER}: a conjugate-gradient solve of the Laplace initialisation did "
                    f"not converge (stage {s}); the fit starts from its last iterate.",
                    RuntimeWarning,
                    stacklevel=3,
                )
        else:
            params = prior_init(u, mu, DIAG_FLOOR, diagonal=diagonal)
        del u
        state = init_state(params, hyper)
        arrays = data
        if epochs:
            late = (np.arange(epochs) >= epochs - epochs // 6) & (epochs >= 6)
            lrs = jnp.asarray(learning_rate * np.where(late, 0.1, 1.0), dtype=mu.dtype)
            keys = jax.random.split(jax.random.fold_in(key, s), epochs)
            state, losses, bad = run_epochs(state, keys, lrs, lik, arrays, mu, setup)
            losses = np.asarray(losses)
            ok = np.isfinite(losses)
            dead = np.flatnonzero(~ok.any(axis=1))
            if dead.size:
                raise FloatingPointError(
                    f"{_OWNER}: every step of epoch {int(dead[0])} (stage {s}) had a non-finite "
                    "ELBO or gradient. Lower `learning_rate`, increase `nugget`, or enable "
                    "64-bit floats."
                )
            skipped += int(np.sum(bad))
            history.extend(np.nanmean(np.where(ok, losses, np.nan), axis=1).tolist())
        hyper, params = state.hyper, state.params
    if params is None:
        raise ValueError(f"{_OWNER}(stages=...) must contain at least one stage.")
    if diagonal:
        params = params._replace(offdiag=jnp.zeros_like(params.offdiag))
    return FittedGP(
        kernel=type(kernel).from_unconstrained(hyper["kernel"]),
        likelihood=lik.from_unconstrained(hyper["likelihood"]),
        history=np.asarray(history),
        num_skipped=skipped,
        newton_steps=tuple(newton_steps),
        pattern=pattern,
        data=data,
        params=params,
    )
