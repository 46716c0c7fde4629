r"""Calibration and accuracy metrics for predicted class probabilities.

Every metric takes ``probs (N, C)`` (rows on the simplex) and integer ``labels (N,)`` in
``[0, C)`` and returns a scalar JAX array. Conventions:

* ``accuracy``: fraction with :math:`\arg\max_c p_{nc} = y_n` (ties go to the lowest index).
* ``nll``: :math:`-\frac1N\sum_n \log \max(p_{n y_n}, \text{tiny})`, tiny the dtype's
  smallest normal number.
* ``brier``: :math:`\frac1N\sum_n\sum_c (p_{nc} - \mathbb 1[c = y_n])^2`. This is the
  multi-class Brier score of Brier (1950), summed over classes and averaged over points,
  with range [0, 2]. Some libraries divide it by C.
* ``ece``: expected calibration error with ``num_bins`` equal-width bins of the confidence
  :math:`\max_c p_{nc}` on (0, 1]. Bin b holds :math:`(b/B, (b+1)/B]`.
  :math:`\mathrm{ECE} = \sum_b \frac{n_b}{N} |\mathrm{acc}_b - \mathrm{conf}_b|`
  (Naeini et al. 2015; Guo et al. 2017), the L1 form weighted by bin counts.
* ``mean_max_prob``: the mean confidence :math:`\frac1N\sum_n \max_c p_{nc}`.

Shape and dtype problems always raise. Value checks (label range, finite probabilities,
rows summing to one within 1e-3 in float32 or 1e-6 in float64) run on concrete inputs and
are skipped under ``jit``.

References:
    1. Brier (1950), "Verification of forecasts expressed in terms of probability",
       Monthly Weather Review 78(1).
    2. Naeini, Cooper, Hauskrecht (2015), "Obtaining well calibrated probabilities using
       Bayesian binning", AAAI.
    3. Guo, Pleiss, Sun, Weinberger (2017), "On calibration of modern neural networks", ICML.

"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from probapprox._checks import check_int
from probapprox.logits._inputs import as_array, is_concrete

__all__ = ["accuracy", "nll", "brier", "ece", "mean_max_prob"]


def _check(owner: str, probs: jax.ArrayLike, labels: jax.ArrayLike | None) -> tuple:
    probs = as_array(owner, "probs", probs)
    if labels is None:  # mean_max_prob without labels: check probs only
        labels = jnp.zeros(probs.shape[:1], jnp.int32)
    labels = as_array(owner, "labels", labels)
    if probs.ndim != 2 or probs.shape[1] < 1:
        raise ValueError(f"{owner}(probs=...) expects shape (N, C); got {probs.shape}.")
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        raise ValueError(f"{owner}(probs=...) expects a floating array; got {probs.dtype}.")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"{owner}(labels=...) expects integer class indices; got dtype {labels.dtype}."
        )
    if labels.shape != probs.shape[:1]:
        raise ValueError(
            f"{owner}(labels=...) expects shape {probs.shape[:1]} to match probs "
            f"{probs.shape}; got {labels.shape}."
        )
    if is_concrete(probs, labels):
        n_classes = probs.shape[1]
        lab, p = np.asarray(labels), np.asarray(probs)
        if lab.size and (lab.min() < 0 or lab.max() >= n_classes):
            raise ValueError(
                f"{owner}(labels=...) must lie in [0, {n_classes}); "
                f"got values in [{lab.min()}, {lab.max()}]."
            )
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{owner}(probs=...) contains non-finite values (nan or inf).")
        tol = 1e-6 if p.dtype == np.float64 else 1e-3
        if p.size and (p.min() < -tol or np.max(np.abs(p.sum(axis=1) - 1.0)) > tol):
            raise ValueError(
                f"{owner}(probs=...) rows must be non-negative and sum to 1 (within {tol}); "
                f"got row sums in [{p.sum(1).min():.6g}, {p.sum(1).max():.6g}] and min "
                f"{p.min():.3g}. Did you pass logits? Use jax.nn.softmax(logits) first."
            )
    return probs, labels


def accuracy(probs: jax.ArrayLike, labels: jax.ArrayLike) -> jax.Array:
    """Fraction of rows whose arg-max class equals the label."""
    probs, labels = _check("accuracy", probs, labels)
    return jnp.mean(jnp.argmax(probs, axis=1) == labels)


def nll(probs: jax.ArrayLike, labels: jax.ArrayLike) -> jax.Array:
    """Mean negative log probability of the true class (clipped at the dtype's tiny)."""
    probs, labels = _check("nll", probs, labels)
    p_true = jnp.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
    return -jnp.mean(jnp.log(jnp.maximum(p_true, jnp.finfo(probs.dtype).tiny)))


def brier(probs: jax.ArrayLike, labels: jax.ArrayLike) -> jax.Array:
    """Mean over rows of ``Σ_c (p_c − onehot_c)²`` (range [0, 2]; not divided by C)."""
    probs, labels = _check("brier", probs, labels)
    onehot = jax.nn.one_hot(labels, probs.shape[1], dtype=probs.dtype)
    return jnp.mean(jnp.sum((probs - onehot) ** 2, axis=1))


def ece(probs: jax.ArrayLike, labels: jax.ArrayLike, num_bins: int = 15) -> jax.Array:
    """Expected calibration error, equal-width confidence bins, L1, weighted by bin counts.

    Args:
        probs: ``(N, C)`` probabilities.
        labels: ``(N,)`` integer labels.
        num_bins: number of equal-width bins on (0, 1].

    Returns:
        ``Σ_b (n_b/N)|acc_b − conf_b|`` (see the module docstring).

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(ece(jnp.array([[0.9, 0.1], [0.9, 0.1]]), jnp.array([0, 1]))), 6)
        0.4

    """
    num_bins = check_int("ece", "num_bins", num_bins)
    probs, labels = _check("ece", probs, labels)
    conf = jnp.max(probs, axis=1)
    correct = (jnp.argmax(probs, axis=1) == labels).astype(probs.dtype)
    bins = jnp.clip(jnp.ceil(conf * num_bins).astype(jnp.int32) - 1, 0, num_bins - 1)
    gap = jax.ops.segment_sum(correct - conf, bins, num_segments=num_bins)
    return jnp.sum(jnp.abs(gap)) / probs.shape[0]


def mean_max_prob(probs: jax.ArrayLike, labels: jax.ArrayLike | None = None) -> jax.Array:
    """Mean confidence ``max_c p_c``; ``labels`` is optional (validated when given)."""
    probs, _ = _check("mean_max_prob", probs, labels)
    return jnp.mean(jnp.max(probs, axis=1))
