r"""Algorithm 1 of Petit-Talamon, Lambert & Korba (2025), plus a Fisher–Rao weight step.

Works on the gradients of :class:`~probapprox.estimators.MixtureELBO` with respect to the
guide's unconstrained parameters (means ``m``, log-variances ``u = log ε``, weight logits
``a``), from which it recovers the paper's quantities
:math:`E_j[\nabla\log(q/\pi)] = \nabla_{m_j}/w_j`,
:math:`g_j = E_j[(z-m_j)^\top\nabla\log(q/\pi)]/(d\,\varepsilon_j) = 2\nabla_{u_j}/(w_j d)`
and :math:`c_i - \bar c = \nabla_{a_i}/w_i`, and applies (all components at once):

.. math::
    m_j &\leftarrow m_j - \gamma\, E_j[\nabla \log(q/\pi)]
        && \text{(gradient step on means)} \\
    \varepsilon_j &\leftarrow (1 - \gamma g_j)^2\, \varepsilon_j
        && \text{(Bures–Wasserstein, IBW, Eq. 12)} \\
    \varepsilon_j &\leftarrow \varepsilon_j\, e^{-\gamma g_j}
        && \text{(entropic mirror descent, MD, Eq. 13)} \\
    w_i &\propto w_i\, e^{-\gamma_w (c_i - \sum_k w_k c_k)}
        && \text{(Fisher–Rao / birth–death weight step)}

Variances stay positive by construction. Any other parameter gets a plain gradient step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from numpyro.optim import _NumPyroOptim

__all__ = ["IsoMixtureDescent"]

_VARIANCE_STEPS = ("bures", "mirror")


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"IsoMixtureDescent({name}=...) expects a positive number; got {value!r}.")
    return float(value)


class IsoMixtureDescent(_NumPyroOptim):
    """NumPyro-compatible optimiser for :class:`~probapprox.guides.AutoIsoGaussianMixture`.

    Args:
        step_size: γ, the step of Algorithm 1 (the paper uses 1e-3 to 1e-1 by target).
        variance_step: ``"bures"`` (IBW) or ``"mirror"`` (MD).
        weight_step_size: γ_w for learned weights (default: ``step_size``).
        prefix: the guide's parameter prefix.

    """

    def __init__(
        self,
        step_size: float = 1e-2,
        *,
        variance_step: str = "bures",
        weight_step_size: float | None = None,
        prefix: str = "auto",
    ) -> None:
        self.step_size = _positive("step_size", step_size)
        if variance_step not in _VARIANCE_STEPS:
            raise ValueError(
                f"IsoMixtureDescent(variance_step=...) must be one of {_VARIANCE_STEPS}; "
                f"got {variance_step!r}."
            )
        self.variance_step = variance_step
        ws = step_size if weight_step_size is None else weight_step_size
        self.weight_step_size = _positive("weight_step_size", ws)
        self.names = {k: f"{prefix}_{k}" for k in ("means", "variances", "logits")}
        super().__init__(lambda: (lambda params: params, self._update, lambda state: state))

    def _update(self, i: jax.Array, grads: dict, params: dict) -> dict:
        means_k, var_k, logits_k = (self.names[k] for k in ("means", "variances", "logits"))
        if means_k not in params or var_k not in params:
            raise KeyError(
                f"IsoMixtureDescent expects guide parameters {means_k!r} and {var_k!r}; got "
                f"{sorted(params)}. Use it with AutoIsoGaussianMixture (matching prefix)."
            )
        gamma = self.step_size
        means, u = params[means_k], params[var_k]  # u = log ε (unconstrained)
        n, d = means.shape
        if logits_k in params:
            w = jax.nn.softmax(params[logits_k])
        else:
            w = jnp.full((n,), 1.0 / n, dtype=means.dtype)
        w_safe = jnp.maximum(w, jnp.finfo(w.dtype).tiny)
        new = {k: v - gamma * grads[k] for k, v in params.items()}  # plain step for the rest
        new[means_k] = means - gamma * grads[means_k] / w_safe[:, None]
        g = 2.0 * grads[var_k] / (w_safe * d)
        if self.variance_step == "bures":
            shrink = jnp.maximum(jnp.abs(1.0 - gamma * g), 1e-6)
            new[var_k] = u + 2.0 * jnp.log(shrink)
        else:
            new[var_k] = u - gamma * g
        if logits_k in params:
            new[logits_k] = params[logits_k] - self.weight_step_size * grads[logits_k] / w_safe
            new[logits_k] = new[logits_k] - jnp.max(new[logits_k])  # keep logits bounded
        return new
