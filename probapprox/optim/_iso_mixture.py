r"""Algorithm 1 of Petit-Talamon, Lambert & Korba (2025), plus a Fisher–Rao weight step.

Works on the gradients of :class:`~probapprox.estimators.MixtureELBO` with respect to the
guide's unconstrained parameters (means ``m``, log-variances ``u = log ε``, weight logits
``a``), from which it recovers the paper's quantities
:math:`E_j[\nabla\log(q/\pi)] = \nabla_{m_j}/w_j`,
:math:`g_j = E_j[(z-m_j)^\top\nabla\log(q/\pi)]/(d\,\varepsilon_j)
= 2\nabla_{u_j}/(w_j d\,\varepsilon_j)`
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

``variance_step="prox"`` (ours, after FB-GVI, Diao et al. 2023): a forward step on the
potential alone, :math:`\varepsilon_{1/2} = (1 - \gamma h_j)^2 \varepsilon_j` with the Stein
estimate :math:`h_j = g_j + 1/\varepsilon_j` of the mean Hessian eigenvalue (exact for one
component), then the closed-form entropy JKO step
:math:`\varepsilon_j = \tfrac12(\varepsilon_{1/2} + 2\gamma
+ \sqrt{\varepsilon_{1/2}(\varepsilon_{1/2} + 4\gamma)})`. It treats each component's
own entropy, ignoring the overlap of components.

Variances stay positive by construction. Any other parameter gets a plain gradient step.

Safeguard (on by default, ``trust_region=True``): a mean moves at most one component
radius :math:`\sqrt{d\,\varepsilon_j}` per step, and :math:`|\gamma g_j| \le 1/2` (so a
variance changes by at most a factor 2.25 in a step). In the regime the paper analyses
these bounds are inactive; on stiff targets (a funnel's neck) they keep a fixed step size
from throwing a component to infinity. It also bounds the weight step,
:math:`|\gamma_w (c_i - \bar c)| \le 1` (a weight changes by at most a factor e per step):
at the first steps a component started in a region of negligible posterior mass can have
:math:`c_i - \bar c \sim 10^5`, and an unbounded step sends its weight to exactly zero (so
:math:`\nabla/w_i` is NaN). Always, log-weights are floored at
:math:`\log(w_i / \max_k w_k) \ge -30`, so no weight underflows to zero in any dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from numpyro.optim import _NumPyroOptim

from probapprox._checks import check_choice, check_int, check_positive

__all__ = ["IsoMixtureDescent"]

_MAX_LOG_WEIGHT_STEP = 1.0  # a weight changes by at most a factor e per step (trust region)
_MIN_LOG_WEIGHT = -30.0  # log(w_i / max_k w_k) >= -30: no weight underflows to exactly 0

_VARIANCE_STEPS = ("bures", "mirror", "prox")


class IsoMixtureDescent(_NumPyroOptim):
    """NumPyro-compatible optimiser for :class:`~probapprox.guides.AutoIsoGaussianMixture`.

    Args:
        step_size: γ, the step of Algorithm 1 (the paper uses 1e-3 to 1e-1 by target).
        variance_step: ``"bures"`` (IBW), ``"mirror"`` (MD) or ``"prox"`` (FB-GVI-style).
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
        trust_region: bool = True,
        decay_steps: int | None = None,
        final_fraction: float = 0.1,
    ) -> None:
        self.step_size = check_positive("IsoMixtureDescent", "step_size", step_size)
        owner = "IsoMixtureDescent"
        self.variance_step = check_choice(owner, "variance_step", variance_step, _VARIANCE_STEPS)
        ws = step_size if weight_step_size is None else weight_step_size
        self.weight_step_size = check_positive(owner, "weight_step_size", ws)
        self.trust_region = trust_region
        if decay_steps is not None:
            decay_steps = check_int(owner, "decay_steps", decay_steps)
        self.decay_steps = decay_steps
        self.final_fraction = check_positive(owner, "final_fraction", final_fraction)
        self.names = {k: f"{prefix}_{k}" for k in ("means", "variances", "logits")}
        super().__init__(lambda: (lambda params: params, self._update, lambda state: state))

    def _update(self, i: jax.Array, grads: dict, params: dict) -> dict:
        means_k, var_k, logits_k = (self.names[k] for k in ("means", "variances", "logits"))
        if means_k not in params or var_k not in params:
            raise KeyError(
                f"IsoMixtureDescent expects guide parameters {means_k!r} and {var_k!r}; got "
                f"{sorted(params)}. Use it with AutoIsoGaussianMixture (matching prefix)."
            )
        scale = 1.0
        if self.decay_steps is not None:
            t = jnp.minimum(i / self.decay_steps, 1.0)
            scale = self.final_fraction + (1 - self.final_fraction) * 0.5 * (
                1 + jnp.cos(jnp.pi * t)
            )
        gamma = self.step_size * scale
        means, u = params[means_k], params[var_k]  # u = log ε (unconstrained)
        n, d = means.shape
        if logits_k in params:
            w = jax.nn.softmax(params[logits_k])
        else:
            w = jnp.full((n,), 1.0 / n, dtype=means.dtype)
        w_safe = jnp.maximum(w, jnp.finfo(w.dtype).tiny)
        new = {k: v - gamma * grads[k] for k, v in params.items()}  # plain step for the rest
        step = gamma * grads[means_k] / w_safe[:, None]
        g = 2.0 * grads[var_k] / (w_safe * d * jnp.exp(u))
        if self.trust_region:
            radius = jnp.sqrt(d * jnp.exp(u))
            norm = jnp.linalg.norm(step, axis=-1)
            step = step * jnp.minimum(1.0, radius / jnp.maximum(norm, 1e-30))[:, None]
            g = jnp.clip(g, -0.5 / gamma, 0.5 / gamma)
        new[means_k] = means - step
        if self.variance_step == "bures":
            shrink = jnp.maximum(jnp.abs(1.0 - gamma * g), 1e-6)
            new[var_k] = u + 2.0 * jnp.log(shrink)
        elif self.variance_step == "mirror":
            new[var_k] = u - gamma * g
        else:
            eps = jnp.exp(u)
            half = eps * (1.0 - gamma * (g + 1.0 / eps)) ** 2
            new[var_k] = jnp.log(0.5 * (half + 2 * gamma + jnp.sqrt(half * (half + 4 * gamma))))
        if logits_k in params:
            gamma_w = self.weight_step_size * scale
            delta = gamma_w * grads[logits_k] / w_safe  # γ_w (c_i − c̄)
            if self.trust_region:
                delta = jnp.clip(delta, -_MAX_LOG_WEIGHT_STEP, _MAX_LOG_WEIGHT_STEP)
            logits = params[logits_k] - delta
            logits = logits - jnp.max(logits)  # keep logits bounded
            new[logits_k] = jnp.maximum(logits, _MIN_LOG_WEIGHT)  # no weight underflows to 0
        return new
