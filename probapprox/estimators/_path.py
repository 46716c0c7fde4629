r"""Sticking-the-landing (path-gradient) ELBO for reparameterised guides.

For ``z = T_φ(ε)`` the reparameterised ELBO gradient has a path term and a
score term ``−∇_φ log q_φ(z)|_z`` whose expectation is zero. Dropping it gives
the estimator of Roeder, Wu & Duvenaud (2017):

.. math::
    \nabla_φ \widehat{\mathrm{ELBO}} = \nabla_φ \big[\beta_t \log p(x, T_φ(ε))
        - \log q_{\bar φ}(T_φ(ε))\big], \qquad \bar φ = \mathrm{stop\_gradient}(φ),

which is unbiased, and whose variance vanishes when ``q`` equals the posterior.
``log q_{\bar φ}`` at the draw is evaluated with stopped parameters for ordinary
distributions; a distribution that defines ``path_log_prob(value, intermediates)`` (the
flow guides) supplies it from the score carried forward with the draw instead, with
no inverse pass (Vaitl et al. 2024).

Two schedules, off by default, both driven by the step number ``t`` (``pa.fit`` passes
it; with ``SVI`` pass ``probapprox_step=t`` to ``svi.update``):

* ``path_warmup=W``: the standard reparameterised gradient for steps ``t < W``, the path
  gradient from then on. Far from the posterior the score term that STL drops cancels
  most of the path term's noise: flows started narrow and trained by STL alone develop
  sharp features whose heavy-tailed score stalls Adam. Near the posterior STL is the
  better estimator (its noise vanishes there).
* ``anneal_steps=A``: the likelihood tempering of Rezende & Mohamed (2015),
  :math:`\beta_t = \min(1, \beta_0 + t/A)`. With ``temper="likelihood"`` (default) it
  multiplies the likelihood only,

  .. math::
      \log p_{\beta}(x, z) = \log p(z) + \beta_t \log p(x \mid z),

  where the likelihood is every *observed* site of the model, and ``numpyro.factor`` sites
  count as observed (NumPyro records them as observed ``Unit`` sites): a model written as an
  energy, ``z ~ ImproperUniform`` plus ``factor(-U(z))``, has its whole target there and is
  tempered as :math:`e^{-\beta U}`. The prior is never flattened, so a half-Cauchy scale or a
  funnel's log-scale keeps its prior width at small β (tempering the joint,
  ``temper="joint"``, widens them by :math:`1/\beta` and the fit does not recover when β
  reaches 1: eight schools went from −ELBO 66 to 376). At small β the target is nearly the
  prior, so start the guide wide (``init_scale``) only where the prior is proper; with an
  improper flat prior the tempered target is :math:`e^{-\beta U}`, which is as wide as the
  energy allows.

The loss value is always the −ELBO estimate at :math:`\beta_t`.

References:
    Roeder, Wu, Duvenaud (2017), NeurIPS; Vaitl, Winkler, Richter, Kessel (2024), ICLR;
    Rezende, Mohamed (2015), ICML.

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax import random
from numpyro import handlers
from numpyro.infer.elbo import ELBO
from numpyro.infer.util import compute_log_probs

from probapprox._checks import check_choice, check_int, check_positive

__all__ = ["PathELBO", "STEP_KWARG"]

STEP_KWARG = "probapprox_step"
TEMPER_CHOICES = ("likelihood", "joint")


def _unwrap(fn: Any) -> Any:
    while isinstance(fn, dist.ExpandedDistribution):
        fn = fn.base_dist
    return fn


def _log_prob(fn: Any, value: jax.Array, inter: Any = None) -> jax.Array:
    """``fn.log_prob(value)``; for a ``Delta`` only its ``log_density``.

    An autoguide's constrained sites are ``Delta(T(z), log_density=-log|J_T(z)|)`` and the
    value is ``T(z)`` of the same ``z`` in the live and the frozen trace, but XLA may round the
    two copies of ``T(z)`` differently inside one jitted step; ``Delta.log_prob``'s exact
    equality test then gives ``log 0 = -inf`` (an infinite ELBO) on a fraction of steps.
    """
    if type(fn) is dist.Delta:
        return jnp.broadcast_to(fn.log_density, fn.batch_shape)
    return fn.log_prob(value, inter) if inter else fn.log_prob(value)


def _scaled_sum(log_prob: jax.Array, scale: Any) -> jax.Array:
    if scale is not None:
        log_prob = scale * log_prob
    return jnp.sum(log_prob)


def _latent_sites(trace: dict) -> list[str]:
    return [n for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"]]


def _path_log_q(live: dict, frozen: dict, *, active: Any = True) -> jax.Array:
    """Sticking-the-landing surrogate of ``log q`` at the live draws (stopped parameters).

    A distribution with ``path_log_prob`` (the flows) skips the work of its surrogate's
    gradient where ``active`` is false (the warm-up steps, whose weight ``λ_t`` is zero).
    """
    total = jnp.zeros(())
    for name in _latent_sites(frozen):
        live_site = live[name]
        value, inter = live_site["value"], live_site["intermediates"]
        fn = _unwrap(live_site["fn"])
        if inter and callable(getattr(fn, "path_log_prob", None)):
            lp = fn.path_log_prob(value, inter, active=active)
        else:
            lp = _log_prob(frozen[name]["fn"], value)
        total = total + _scaled_sum(lp, live_site["scale"])
    return total


def _standard_log_q(live: dict, frozen: dict) -> jax.Array:
    """``log q`` at the live draws with live parameters (the standard estimator)."""
    total = jnp.zeros(())
    for name in _latent_sites(frozen):
        site = live[name]
        lp = _log_prob(site["fn"], site["value"], site["intermediates"])
        total = total + _scaled_sum(lp, site["scale"])
    return total


def _log_joint_parts(
    model: Callable, args: tuple, kwargs: dict, params: dict
) -> tuple[jax.Array, jax.Array]:
    """``(log prior, log likelihood)``: latent sites, and observed (incl. factor) sites."""
    per_site, tr = compute_log_probs(model, args, kwargs, params)
    prior = lik = jnp.zeros(())
    for name, lp in per_site.items():
        if tr[name]["is_observed"]:
            lik = lik + lp
        else:
            prior = prior + lp
    return prior, lik


class PathELBO(ELBO):
    """Sticking-the-landing ELBO; a drop-in NumPyro ``ELBO`` for ``SVI`` and ``pa.fit``.

    The guide must be reparameterised (every latent site's draw a differentiable
    function of the parameters) and able to evaluate its log-density at its own
    draws, as NumPyro's Gaussian autoguides and probapprox's flow guides are.

    Args:
        num_particles: Monte Carlo draws per step.
        vectorize_particles: evaluate the draws with ``vmap`` (else ``lax.map``).
        path_warmup: steps of the standard estimator before the path estimator takes over
            (``None``: path estimator from the first step).
        anneal_steps: steps of likelihood tempering ``β_t = min(1, anneal_start + t/A)``
            (``None``: no tempering).
        anneal_start: ``β_0``.
        temper: what β multiplies: ``"likelihood"`` (observed and ``numpyro.factor`` sites;
            the prior stays at full weight) or ``"joint"`` (the whole ``log p(x, z)``).

    """

    def __init__(
        self,
        num_particles: int = 1,
        *,
        vectorize_particles: bool = True,
        path_warmup: int | None = None,
        anneal_steps: int | None = None,
        anneal_start: float = 0.01,
        temper: str = "likelihood",
    ) -> None:
        check_int("PathELBO", "num_particles", num_particles)
        if path_warmup is not None:
            check_int("PathELBO", "path_warmup", path_warmup)
        if anneal_steps is not None:
            check_int("PathELBO", "anneal_steps", anneal_steps)
        anneal_start = check_positive("PathELBO", "anneal_start", anneal_start)
        if anneal_start > 1:
            raise ValueError(f"PathELBO(anneal_start=...) must be in (0, 1]; got {anneal_start}.")
        self.temper = check_choice("PathELBO", "temper", temper, TEMPER_CHOICES)
        super().__init__(num_particles=num_particles, vectorize_particles=vectorize_particles)
        self.path_warmup = path_warmup
        self.anneal_steps = anneal_steps
        self.anneal_start = anneal_start

    @property
    def uses_step(self) -> bool:
        """Whether the loss needs the step number (``probapprox_step`` keyword)."""
        return self.path_warmup is not None or self.anneal_steps is not None

    def schedules(self, step: Any) -> tuple[jax.Array, jax.Array]:
        """``(λ_t, β_t)``: path-gradient weight (0 or 1) and likelihood temperature at ``step``."""
        t = jnp.asarray(step, dtype=float)  # the default float width (float64 under x64)
        lam = jnp.ones(()) if self.path_warmup is None else (t >= self.path_warmup) * 1.0
        beta = (
            jnp.ones(())
            if self.anneal_steps is None
            else jnp.minimum(1.0, self.anneal_start + t / self.anneal_steps)
        )
        return lam, beta

    def loss(
        self,
        rng_key: jax.Array,
        param_map: dict,
        model: Callable,
        guide: Callable,
        *args: Any,
        **kwargs: Any,
    ) -> jax.Array:
        """Negative ELBO estimate whose gradient is the (scheduled) path gradient."""
        step = kwargs.pop(STEP_KWARG, None)
        if step is None and self.uses_step:
            raise ValueError(
                "PathELBO(path_warmup=..., anneal_steps=...) needs the step number: fit with "
                f"probapprox.fit, or pass {STEP_KWARG}=t to svi.update(state, ..., "
                f"{STEP_KWARG}=t)."
            )
        lam, beta = self.schedules(0 if step is None else step)
        frozen = jax.lax.stop_gradient(param_map)

        def single(key: jax.Array) -> jax.Array:
            model_key, guide_key = random.split(key)
            seeded = handlers.seed(guide, guide_key)
            live = handlers.trace(handlers.substitute(seeded, data=param_map)).get_trace(
                *args, **kwargs
            )
            replayed_guide = handlers.substitute(handlers.replay(seeded, live), data=frozen)
            frozen_tr = handlers.trace(replayed_guide).get_trace(*args, **kwargs)
            active = True if self.path_warmup is None else lam > 0.5  # True: no lax.cond
            path = _path_log_q(live, frozen_tr, active=active)
            if self.path_warmup is None:
                log_q = path
            else:
                log_q = lam * path + (1.0 - lam) * _standard_log_q(live, frozen_tr)
            replayed = handlers.replay(handlers.seed(model, model_key), live)
            log_prior, log_lik = _log_joint_parts(replayed, args, kwargs, param_map)
            if self.temper == "joint":
                return beta * (log_prior + log_lik) - log_q
            return log_prior + beta * log_lik - log_q

        if self.num_particles == 1:
            return -single(rng_key)
        keys = random.split(rng_key, self.num_particles)
        if self.vectorize_particles:
            elbos = jax.vmap(single)(keys)
        else:
            elbos = jax.lax.map(single, keys)
        return -jnp.mean(elbos)
