r"""FB-GVI as a NumPyro (loss, optimiser) pair for a full-rank Gaussian guide.

The update of :func:`probapprox.families.gaussian.fb_gvi_update` needs the model's
gradient and Hessian at a draw, which an optimiser never sees. So the work happens in
:class:`FBGVILoss`: it computes the FB-GVI target ``(m', L')`` (``L' = chol Σ'``) and
returns a surrogate whose gradient with respect to the guide's *unconstrained*
parameters ``φ`` is ``φ − φ_target`` and whose value is the usual −ELBO estimate;
:class:`FBGVI` then applies ``φ ← φ − grad``, landing exactly on the target. Use it as
``opt = FBGVI(η); SVI(model, AutoMultivariateNormal(model), opt, opt.loss)``, or
``pa.fit(model, guide, optimizer=FBGVI(η))`` (which pairs the loss itself).

Cost per step: one Hessian of the potential (``d`` gradient evaluations) and an ``O(d³)``
eigendecomposition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import random
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from numpyro.infer.elbo import ELBO
from numpyro.infer.util import potential_energy
from numpyro.optim import _NumPyroOptim

from probapprox._checks import check_choice, check_positive
from probapprox.families.gaussian import fb_gvi_update

__all__ = ["FBGVI", "FBGVILoss"]

_EVALUATE_AT = ("sample", "mean")


class FBGVILoss(ELBO):
    """Surrogate loss whose gradient step of size one is the FB-GVI update (see module)."""

    def __init__(
        self, step_size: float, *, evaluate_at: str = "sample", prefix: str = "auto"
    ) -> None:
        super().__init__(num_particles=1)
        self.step_size = step_size
        self.evaluate_at = evaluate_at
        self.prefix = prefix

    def loss(
        self,
        rng_key: jax.Array,
        param_map: dict,
        model: Callable,
        guide: Any,
        *args: Any,
        **kwargs: Any,
    ) -> jax.Array:
        """−ELBO estimate as value; ``φ − φ_target`` as gradient."""
        loc_k, tril_k = f"{self.prefix}_loc", f"{self.prefix}_scale_tril"
        if loc_k not in param_map or tril_k not in param_map:
            raise KeyError(
                f"FBGVI needs a full-rank Gaussian guide with parameters {loc_k!r} and "
                f"{tril_k!r} (AutoMultivariateNormal); got {sorted(param_map)}."
            )
        loc, tril = param_map[loc_k], param_map[tril_k]

        def potential(z: jax.Array) -> jax.Array:
            return potential_energy(model, args, kwargs, guide._unpack_latent(z))

        xi = random.normal(rng_key, loc.shape, dtype=loc.dtype)
        draw = loc + tril @ xi
        at = jax.lax.stop_gradient(draw if self.evaluate_at == "sample" else loc)
        grad, hess = jax.grad(potential)(at), jax.hessian(potential)(at)
        cov = jax.lax.stop_gradient(tril @ tril.T)
        new_loc, new_cov = fb_gvi_update(
            jax.lax.stop_gradient(loc), cov, grad, hess, self.step_size
        )
        new_tril = jnp.linalg.cholesky(new_cov)

        to_u = biject_to(constraints.scaled_unit_lower_cholesky).inv
        u_tril, target_tril = to_u(tril), jax.lax.stop_gradient(to_u(new_tril))
        surrogate = 0.5 * (jnp.sum((loc - new_loc) ** 2) + jnp.sum((u_tril - target_tril) ** 2))
        d = loc.shape[-1]
        entropy = 0.5 * d * (1 + jnp.log(2 * jnp.pi)) + jnp.sum(jnp.log(jnp.diag(tril)))
        neg_elbo = potential(jax.lax.stop_gradient(draw)) - entropy
        return surrogate - jax.lax.stop_gradient(surrogate) + jax.lax.stop_gradient(neg_elbo)


class FBGVI(_NumPyroOptim):
    """Forward–backward Gaussian VI for ``AutoMultivariateNormal`` (Diao et al. 2023).

    Args:
        step_size: η; the theory asks η ≤ 1/β for a β-smooth potential.
        evaluate_at: ``"sample"`` (stochastic FB-GVI: gradient and Hessian at one draw of q)
            or ``"mean"`` (at the mean: the deterministic algorithm for Gaussian targets).
        prefix: the guide's parameter prefix.

    """

    def __init__(
        self, step_size: float, *, evaluate_at: str = "sample", prefix: str = "auto"
    ) -> None:
        check_choice("FBGVI", "evaluate_at", evaluate_at, _EVALUATE_AT)
        self.step_size = check_positive("FBGVI", "step_size", step_size)
        self.loss = FBGVILoss(self.step_size, evaluate_at=evaluate_at, prefix=prefix)
        super().__init__(
            lambda: (
                lambda params: params,
                lambda i, g, params: jax.tree.map(lambda p, gi: p - gi, params, g),
                lambda params: params,
            )
        )

    def paired_loss(self) -> FBGVILoss:
        """The loss this optimiser must be used with (``pa.fit`` picks it automatically)."""
        return self.loss
