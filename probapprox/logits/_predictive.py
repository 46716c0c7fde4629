r"""Predictive class probabilities from a Gaussian over logits: one entry point, eight methods.

Softmax-trained models, :math:`p = \mathbb E[\mathrm{softmax}(z)]`:

* ``"sigma_points"``: a deterministic cubature, the mean of softmax(μ + Lε) over one fixed
  set of 512 antithetic, whitened scrambled-Sobol points ε (exact for cubic polynomials
  and at Σ = 0). The recommended softmax predictive: on the digits MLP's Laplace logit
  Gaussians (last-layer and all-layer KFAC, diagonal, full) it is closer to a 10⁵-draw
  reference than ``"mc"`` with 1000 draws, at about 1/25 of its time (see
  :mod:`probapprox.logits._sigma_points`).
* ``"mc"``: Monte Carlo in antithetic pairs μ ± Lε (full covariance through its Cholesky
  factor L when given).
* ``"mean_field"``: :math:`\mathrm{softmax}(\mu/\sqrt{1+\lambda_0\sigma^2})`, λ₀ = π/8
  (Lu et al. 2020). laplace-torch calls this ``link_approx="probit"``. It is *not* our
  ``"probit"``, which is the normCDF link below. ``pairwise=True`` gives the pairwise form
  (laplax ``mean_field_1``; with a full covariance, ``mean_field_2``).
* ``"laplace_bridge"``: mean of the Laplace-bridge Dirichlet (Hobbhahn et al. 2022), with
  ``correction="mean_norm"`` by default (see :mod:`probapprox.logits._softmax` for the
  variants and their accuracy measured on network Laplace Gaussians).
* ``"log"``: :math:`\mathrm{softmax}(\mu + \sigma^2/2)`, the exact normalised
  :math:`\mathbb E[e^{z_c}]`. This is the exp link, not E[softmax].

Models trained with an elementwise link :math:`g` (Mucsányi et al. 2025),
:math:`p_c = \mathbb E[g(z_c)] / \sum_k \mathbb E[g(z_k)]`:

* ``"probit"``: :math:`g = \Phi`, :math:`\mathbb E[\Phi(z_c)] = \Phi(\mu_c/\sqrt{1+\sigma_c^2})`
  (exact per class).
* ``"sigmoid"``: :math:`g = \sigma`, :math:`\mathbb E[\sigma(z_c)] \approx
  \sigma(\mu_c/\sqrt{1+\lambda_0\sigma_c^2})`.
* ``"dirichlet"``: the mean of the moment-matched Dirichlet (``link="probit"`` or
  ``"sigmoid"``). It equals the ``"probit"``/``"sigmoid"`` predictive exactly; use
  :func:`dirichlet_alpha` for the concentrations.

Every method returns probability vectors with the shape of ``mean``, normalised in log
space (``log_ndtr``, ``log_sigmoid``, logsumexp), so extreme logits give no NaN. When a full
covariance is given, ``"sigma_points"``, ``"mc"``, ``mean_field`` with ``pairwise=True`` and
``laplace_bridge`` with ``correction="zero_sum"`` or ``"mean_norm"`` use its off-diagonal.
Every other method reads only the diagonal.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from probapprox._checks import check_choice, check_int
from probapprox.logits._dirichlet import LINKS, dirichlet_log_alpha, log_first_moment
from probapprox.logits._inputs import (
    GaussianLogits,
    as_gaussian,
    host_variances,
    is_concrete,
    split_cov,
)
from probapprox.logits._sigma_points import sigma_point_softmax
from probapprox.logits._softmax import (
    BRIDGE_CORRECTIONS,
    laplace_bridge_log_alpha,
    mc_softmax,
    mean_field_softmax,
)

__all__ = ["METHODS", "predictive", "dirichlet_alpha", "laplace_bridge_alpha"]

METHODS = (
    "sigma_points",
    "mc",
    "mean_field",
    "laplace_bridge",
    "probit",
    "sigmoid",
    "log",
    "dirichlet",
)
_OPTIONS: dict[str, dict[str, Any]] = {
    "sigma_points": {"num_points": 512},
    "mc": {"key": None, "num_samples": 1000},
    "mean_field": {"pairwise": False},
    "laplace_bridge": {"correction": "mean_norm"},
    "probit": {},
    "sigmoid": {},
    "log": {},
    "dirichlet": {"link": "probit"},
}


def _options(method: str, opts: dict[str, Any]) -> dict[str, Any]:
    allowed = _OPTIONS[method]
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(
            f"predictive(method={method!r}) got unknown option(s) {unknown}; "
            f"its options are {sorted(allowed) or 'none'}."
        )
    return {**allowed, **opts}


def _require_positive_var(owner: str, g: GaussianLogits) -> None:
    if is_concrete(g.cov_or_var) and bool(np.any(host_variances(g) <= 0)):
        raise ValueError(
            f"{owner}(cov_or_var=...) needs strictly positive variances: the Laplace bridge "
            f"divides by σ² (its Dirichlet is undefined at σ² = 0). Use method='mean_field' "
            f"or add a small variance."
        )


@partial(jax.jit, static_argnames=("kind", "full", "option"))
def _compute(
    key: jax.Array | None,
    mean: jax.Array,
    cov_or_var: jax.Array,
    *,
    kind: str,
    full: bool,
    option: Any,
) -> jax.Array:
    """All methods behind one jit: one compilation per (kind, option, shapes)."""
    var, cov = split_cov(cov_or_var, full=full)
    if kind == "mc":
        return mc_softmax(key, mean, var, cov, option)
    if kind == "sigma_points":
        return sigma_point_softmax(mean, var, cov, option)
    if kind == "mean_field":
        return mean_field_softmax(mean, var, cov, pairwise=option)
    if kind == "log":
        return jax.nn.softmax(mean + 0.5 * var, axis=-1)
    if kind in ("laplace_bridge", "bridge_alpha"):
        log_alpha = laplace_bridge_log_alpha(mean, var, cov, correction=option)
    elif kind == "dirichlet_alpha":
        log_alpha = dirichlet_log_alpha(mean, var, option)
    else:  # "link": normalised E[g(z_c)]
        return jax.nn.softmax(log_first_moment(mean, var, option), axis=-1)
    return jax.nn.softmax(log_alpha, axis=-1) if kind == "laplace_bridge" else jnp.exp(log_alpha)


def predictive(
    mean: jax.ArrayLike,
    cov_or_var: jax.ArrayLike,
    method: str = "mean_field",
    **opts: Any,
) -> jax.Array:
    r"""Class probabilities from logits :math:`z \sim \mathcal N(\mu, \Sigma)`.

    See the module docstring for the maths of each method. All methods are ``jax.jit``
    compatible when ``method`` and the options are static. Value checks (finite inputs,
    non-negative variances, positive variances for the bridge) run only on concrete
    inputs and are skipped under ``jit``.

    Args:
        mean: logit means, shape ``(..., C)`` with C ≥ 2.
        cov_or_var: variances ``(..., C)`` or covariances ``(..., C, C)``.
        method: ``"sigma_points"`` (recommended for E[softmax]), ``"mc"``,
            ``"mean_field"`` (the default: closed form, cheapest), ``"laplace_bridge"``,
            ``"probit"``, ``"sigmoid"``, ``"log"`` or ``"dirichlet"``.
        **opts: method options.

            - ``"sigma_points"``: ``num_points=512`` (at least 2C are used).
            - ``"mc"``: ``key`` (a JAX PRNG key, required), ``num_samples=1000``.
            - ``"mean_field"``: ``pairwise=False``.
            - ``"laplace_bridge"``: ``correction`` in ``("zero_sum", "none", "sum_norm",
              "mean_norm")``, default ``"mean_norm"``.
            - ``"dirichlet"``: ``link`` in ``("probit", "sigmoid")``, default
              ``"probit"``.

    Returns:
        Probabilities with the shape of ``mean``: non-negative, summing to one over the
        last axis.

    Raises:
        ValueError: for an unknown method or option, bad shapes, non-finite inputs,
            negative variances, a missing ``key`` for ``"mc"``, or a zero variance for
            ``"laplace_bridge"``.

    Example:
        >>> import jax.numpy as jnp
        >>> mu, var = jnp.array([2.0, 0.0, -1.0]), jnp.array([1.0, 1.0, 4.0])
        >>> p = predictive(mu, var, method="probit")
        >>> bool(jnp.isclose(p.sum(), 1.0))
        True

    """
    check_choice("predictive", "method", method, METHODS)
    opts = _options(method, opts)
    g = as_gaussian("predictive", mean, cov_or_var)
    key, kind = None, method
    if method == "mc":
        key, option = opts["key"], check_int("predictive", "num_samples", opts["num_samples"])
        if key is None:
            raise ValueError(
                "predictive(method='mc') needs key=jax.random.key(seed) (a JAX PRNG key)."
            )
    elif method == "sigma_points":
        option = check_int("predictive", "num_points", opts["num_points"])
    elif method == "mean_field":
        option = opts["pairwise"]
        if not isinstance(option, bool):
            raise ValueError(f"predictive(pairwise=...) must be a bool; got {option!r}.")
    elif method == "laplace_bridge":
        option = _bridge_correction("predictive", g, opts["correction"])
    elif method == "log":
        option = None
    else:
        kind = "link"
        option = method if method in LINKS else _link("predictive", opts["link"])
    return _compute(key, g.mean, g.cov_or_var, kind=kind, full=g.full, option=option)


def _link(owner: str, link: Any) -> str:
    return check_choice(owner, "link", link, LINKS)


def _bridge_correction(owner: str, g: GaussianLogits, correction: Any) -> str:
    """Validate the bridge's correction and (for concrete inputs) its positive variances."""
    check_choice(owner, "correction", correction, BRIDGE_CORRECTIONS)
    _require_positive_var(owner, g)
    return correction


def laplace_bridge_alpha(
    mean: jax.ArrayLike, cov_or_var: jax.ArrayLike, *, correction: str = "mean_norm"
) -> jax.Array:
    r"""Dirichlet concentrations α ``(..., C)`` of the Laplace bridge.

    Args:
        mean: logit means ``(..., C)``.
        cov_or_var: variances ``(..., C)`` (> 0) or covariances ``(..., C, C)``.
        correction: basis correction, see :mod:`probapprox.logits._softmax`.

    Returns:
        α, whose mean ``α/Σα`` is ``predictive(..., method="laplace_bridge")``.

    """
    g = as_gaussian("laplace_bridge_alpha", mean, cov_or_var)
    option = _bridge_correction("laplace_bridge_alpha", g, correction)
    return _compute(None, g.mean, g.cov_or_var, kind="bridge_alpha", full=g.full, option=option)


def dirichlet_alpha(
    mean: jax.ArrayLike, cov_or_var: jax.ArrayLike, *, link: str = "probit"
) -> jax.Array:
    r"""Moment-matched Dirichlet concentrations α ``(..., C)`` for a normCDF or sigmoid link.

    :math:`\alpha_c = P M_{1,c}/S` (Mucsányi et al. 2025); see
    :mod:`probapprox.logits._dirichlet` for the formulas and the numerics. Only the
    diagonal of a full covariance is used.

    Args:
        mean: logit means ``(..., C)``.
        cov_or_var: variances ``(..., C)`` or covariances ``(..., C, C)``.
        link: ``"probit"`` (g = Φ) or ``"sigmoid"`` (g = σ).

    Returns:
        α > 0 with ``α/Σα == predictive(mean, cov_or_var, method=link)``.

    """
    link = _link("dirichlet_alpha", link)
    g = as_gaussian("dirichlet_alpha", mean, cov_or_var)
    return _compute(None, g.mean, g.cov_or_var, kind="dirichlet_alpha", full=g.full, option=link)
