r"""Demo helper: the MAP of the digits MLP and its temperature (not public API).

The model is a categorical likelihood on the logits of an :class:`~probapprox.laplace.MLP`
with the Gaussian prior :math:`\theta \sim \mathcal N(0, \delta^{-1} I)`, so the MAP
minimises

.. math::

    \frac1N\Big[\sum_{n=1}^N -\log\operatorname{softmax}(f(x_n;\theta))_{y_n}
    + \frac\delta2\|\theta\|^2\Big],

whose gradient is the mean cross-entropy gradient plus :math:`(\delta/N)\theta`: Adam with
coupled weight decay :math:`\delta/N` (``optax.add_decayed_weights`` before ``optax.adam``;
not AdamW's decoupled decay) has exactly the MAP of the model the Laplace prior assumes as its
fixed point.

Reference:
    Guo, Pleiss, Sun, Weinberger (2017), "On calibration of modern neural networks", ICML
    (temperature scaling).

"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from scipy.optimize import minimize_scalar

from probapprox import laplace as pl
from probapprox import logits as plog
from probapprox._checks import check_int, check_positive

__all__ = ["fit_temperature", "train_map"]


def train_map(
    X: Any,
    y: Any,
    *,
    hidden: int = 128,
    steps: int = 3000,
    prior_precision: float = 1.0,
    learning_rate: float = 3e-3,
    seed: int = 0,
    activation: Callable | None = None,
    likelihood: str = "softmax",
) -> tuple[Any, list[dict]]:
    r"""MAP of a ``D-H-H-C`` :class:`~probapprox.laplace.MLP` by full-batch Adam.

    Minimises the objective of the module docstring with coupled weight decay
    :math:`\delta/N` and a cosine learning-rate decay to 1 % over ``steps`` (one jitted
    :func:`jax.lax.scan`), so the last iterates settle on a stationary point.

    Args:
        X: Inputs ``(N, D)``; parameters get its floating dtype.
        y: Integer labels ``(N,)`` in ``[0, C)``; ``C = max(y) + 1``.
        hidden: Width ``H`` of both hidden layers.
        steps: Adam steps.
        prior_precision: :math:`\delta` of the Gaussian prior.
        learning_rate: Peak Adam learning rate.
        seed: Seed of the Glorot initialisation.
        activation: Hidden activation (default ``jnp.tanh``).
        likelihood: ``"softmax"`` (categorical on softmax of the logits) or ``"normcdf"``
            (:class:`probapprox.logits.NormCDFCategorical`, p_c ∝ Φ(z_c); its Laplace
            predictive is ``predictive(method="probit")``).

    Returns:
        ``(net, params)``: the ``MLP`` (an ``apply_fn`` for ``fit_laplace``) and its MAP.

    """
    owner = "train_map"
    hidden, steps = check_int(owner, "hidden", hidden), check_int(owner, "steps", steps)
    check_positive(owner, "prior_precision", prior_precision)
    check_positive(owner, "learning_rate", learning_rate)
    X, y = jnp.asarray(X), jnp.asarray(y)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jnp.result_type(float))
    net = pl.MLP(jnp.tanh if activation is None else activation)
    sizes = (X.shape[1], hidden, hidden, int(jnp.max(y)) + 1)
    init = jax.jit(pl.mlp_init, static_argnums=(1, 2))  # one compile, not one per op
    params = init(jax.random.PRNGKey(seed), sizes, X.dtype)
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01)
    opt = optax.chain(optax.add_decayed_weights(prior_precision / X.shape[0]), optax.adam(schedule))

    if likelihood not in ("softmax", "normcdf"):
        raise ValueError(f"{owner}(likelihood={likelihood!r}) must be 'softmax' or 'normcdf'.")

    def loss(p: list[dict]) -> jax.Array:
        z = net(p, X)
        if likelihood == "normcdf":
            log_p = plog.NormCDFCategorical(z).log_probs
            return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=-1))
        return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()

    @jax.jit
    def run(p: list[dict]) -> list[dict]:
        def step(carry: tuple, _: None) -> tuple:
            p, state = carry
            updates, state = opt.update(jax.grad(loss)(p), state, p)
            return (optax.apply_updates(p, updates), state), None

        return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

    return net, jax.block_until_ready(run(params))


def fit_temperature(logits: Any, labels: Any, *, bounds: tuple = (0.05, 20.0)) -> float:
    r"""Temperature :math:`T^* = \arg\min_T \mathrm{NLL}(\operatorname{softmax}(z/T), y)`.

    A bounded Brent search over :math:`\log T` in ``bounds`` (the NLL is smooth and
    unimodal in :math:`T` for fixed logits; Guo et al. 2017). Fit it on validation data.
    """
    z, labels = jnp.asarray(logits), jnp.asarray(labels)

    def val_nll(log_t: float) -> float:
        return float(plog.nll(jax.nn.softmax(z / math.exp(log_t), axis=-1), labels))

    lo, hi = (math.log(b) for b in bounds)
    return math.exp(minimize_scalar(val_nll, bounds=(lo, hi), method="bounded").x)
