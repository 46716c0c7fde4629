r"""Sticking-the-landing (path-gradient) ELBO for reparameterised guides.

For ``z = T_φ(ε)`` the reparameterised ELBO gradient has a path term and a
score term ``−∇_φ log q_φ(z)|_z`` whose expectation is zero. Dropping it gives
the estimator of Roeder, Wu & Duvenaud (2017):

.. math::
    \nabla_φ \widehat{\mathrm{ELBO}} = \nabla_φ \big[\log p(x, T_φ(ε))
        - \log q_{\bar φ}(T_φ(ε))\big], \qquad \bar φ = \mathrm{stop\_gradient}(φ),

which is unbiased, and whose variance vanishes when ``q`` equals the posterior.
The loss value is the usual −ELBO estimate.

References:
    Roeder, Wu, Duvenaud (2017), "Sticking the landing: simple, lower-variance
    gradient estimators for variational inference", NeurIPS.

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import random
from numpyro import handlers
from numpyro.infer.elbo import ELBO
from numpyro.infer.util import log_density

from probapprox._checks import check_int

__all__ = ["PathELBO"]


class PathELBO(ELBO):
    """Sticking-the-landing ELBO; a drop-in NumPyro ``ELBO`` for ``SVI`` and ``pa.fit``.

    The guide must be reparameterised (every latent site's draw a differentiable
    function of the parameters) and able to evaluate its log-density at its own
    draws, as NumPyro's Gaussian autoguides are.

    Args:
        num_particles: Monte Carlo draws per step.
        vectorize_particles: evaluate the draws with ``vmap`` (else ``lax.map``).

    """

    def __init__(self, num_particles: int = 1, *, vectorize_particles: bool = True) -> None:
        check_int("PathELBO", "num_particles", num_particles)
        super().__init__(num_particles=num_particles, vectorize_particles=vectorize_particles)

    def loss(
        self,
        rng_key: jax.Array,
        param_map: dict,
        model: Callable,
        guide: Callable,
        *args: Any,
        **kwargs: Any,
    ) -> jax.Array:
        """Negative ELBO estimate whose gradient is the sticking-the-landing gradient."""
        frozen = jax.lax.stop_gradient(param_map)

        def single(key: jax.Array) -> jax.Array:
            model_key, guide_key = random.split(key)
            seeded = handlers.seed(guide, guide_key)
            gtr = handlers.trace(handlers.substitute(seeded, data=param_map)).get_trace(
                *args, **kwargs
            )
            log_q, _ = log_density(handlers.replay(seeded, gtr), args, kwargs, frozen)
            replayed = handlers.replay(handlers.seed(model, model_key), gtr)
            log_p, _ = log_density(replayed, args, kwargs, param_map)
            return log_p - log_q

        if self.num_particles == 1:
            return -single(rng_key)
        keys = random.split(rng_key, self.num_particles)
        if self.vectorize_particles:
            elbos = jax.vmap(single)(keys)
        else:
            elbos = jax.lax.map(single, keys)
        return -jnp.mean(elbos)
