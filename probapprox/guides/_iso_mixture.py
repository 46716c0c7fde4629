r"""``AutoIsoGaussianMixture``: a mixture of isotropic Gaussians over the flat latent.

.. math::
    q(z) = \sum_{j=1}^N w_j\, \mathcal N(z;\, m_j,\, \varepsilon_j I_d)

on the model's unconstrained latent ``z`` (dimension ``d``), pushed through the
model's constraining transforms. ``weights="uniform"`` is the family of
Petit-Talamon, Lambert & Korba (2025) exactly (w_j = 1/N); ``weights="learned"``
(the default) adds weights on the simplex, moved by a Fisher–Rao step in
:class:`~probapprox.optim.IsoMixtureDescent` so that components landing unevenly
on the modes can still get the mode masses right.

Parameters (NumPyro param sites): ``{prefix}_means (N, d)``, ``{prefix}_variances (N,)``
(positive) and, for learned weights, ``{prefix}_logits (N,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer.autoguide import AutoContinuous
from numpyro.infer.initialization import init_to_uniform

from probapprox._checks import check_choice, check_int, check_positive
from probapprox.families import iso_mixture as fam
from probapprox.guides._registry import register_guide

__all__ = ["AutoIsoGaussianMixture", "IsoGaussianMixtureDistribution"]

_WEIGHTS = ("learned", "uniform")


class IsoGaussianMixtureDistribution(dist.Distribution):
    """NumPyro distribution of an :class:`~probapprox.families.iso_mixture.IsoMixture`.

    Sampling picks a component (not reparameterised in the weights); fit it with
    :class:`~probapprox.estimators.MixtureELBO`, which never samples the index.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = False

    def __init__(self, mix: fam.IsoMixture, *, validate_args: bool | None = None) -> None:
        self.mix = mix
        super().__init__(
            batch_shape=(), event_shape=mix.means.shape[-1:], validate_args=validate_args
        )

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Draws of shape ``sample_shape + (d,)``."""
        return fam.sample(key, self.mix, tuple(sample_shape) + self.batch_shape)

    def log_prob(self, value: jax.Array) -> jax.Array:
        """``log q(value)``."""
        return fam.log_prob(value, self.mix)

    @property
    def mean(self) -> jax.Array:
        """Mixture mean ``Σ_j w_j m_j``."""
        return fam.weights(self.mix) @ self.mix.means

    @property
    def variance(self) -> jax.Array:
        """Per-coordinate mixture variance."""
        w = fam.weights(self.mix)
        second = w @ (self.mix.means**2 + self.mix.variances[:, None])
        return second - self.mean**2


@register_guide
class AutoIsoGaussianMixture(AutoContinuous):
    """Mixture of ``N`` isotropic Gaussians on the model's flat unconstrained latent.

    Fit it with ``pa.fit`` (which picks :class:`~probapprox.estimators.MixtureELBO` and
    :class:`~probapprox.optim.IsoMixtureDescent`), or in ``numpyro.infer.SVI`` with those
    two or with Adam.

    Args:
        model: a NumPyro model with continuous latent sites.
        num_components: ``N``.
        weights: ``"learned"`` (default) or ``"uniform"`` (the paper's family).
        prefix: parameter name prefix.
        init_loc_fn: per-site initialisation of the centre around which means start.
        init_radius: means start uniformly in the cube of this half-width around the centre.
        init_variance: every ε_j starts here.
        step_size: γ of the default optimiser.
        variance_step: ``"bures"`` (IBW), ``"mirror"`` (MD) or ``"prox"`` for the default
            optimiser.
        num_particles: draws per component per step for the default estimator.

    Reference:
        Petit-Talamon, Lambert, Korba (2025), "Variational inference with mixtures of
        isotropic Gaussians", NeurIPS.

    """

    def __init__(
        self,
        model: Callable,
        *,
        num_components: int = 10,
        weights: str = "learned",
        prefix: str = "auto",
        init_loc_fn: Callable = init_to_uniform,
        init_radius: float = 3.0,
        init_variance: float = 1.0,
        step_size: float = 1e-2,
        variance_step: str = "bures",
        num_particles: int = 10,
    ) -> None:
        owner = "AutoIsoGaussianMixture"
        num_components = check_int(owner, "num_components", num_components)
        check_choice(owner, "weights", weights, _WEIGHTS)
        check_choice(owner, "variance_step", variance_step, ("bures", "mirror", "prox"))
        init_radius = check_positive(owner, "init_radius", init_radius)
        init_variance = check_positive(owner, "init_variance", init_variance)
        step_size = check_positive(owner, "step_size", step_size)
        num_particles = check_int(owner, "num_particles", num_particles)
        self.num_components = num_components
        self.weights = weights
        self.init_radius = float(init_radius)
        self.init_variance = float(init_variance)
        self.step_size = float(step_size)
        self.variance_step = variance_step
        self.num_particles = int(num_particles)
        super().__init__(model, prefix=prefix, init_loc_fn=init_loc_fn)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able) for save/load."""
        return {
            "num_components": self.num_components,
            "weights": self.weights,
            "prefix": self.prefix,
            "init_radius": self.init_radius,
            "init_variance": self.init_variance,
            "step_size": self.step_size,
            "variance_step": self.variance_step,
            "num_particles": self.num_particles,
        }

    def default_loss(self, num_steps: int | None = None) -> Any:
        """:class:`~probapprox.estimators.MixtureELBO` with ``num_particles`` per component."""
        del num_steps
        from probapprox.estimators import MixtureELBO

        return MixtureELBO(self.num_particles)

    def whitener(self, flat: Any, *, dense_max: int) -> tuple[None, str]:
        """Hook of :func:`probapprox.fit`'s warm start: not whitened (see ``FitHooks``)."""
        del flat, dense_max
        return None, (
            "isotropic mixture components cannot absorb a non-isotropic whitening, and one MAP "
            "would collapse the components; use num_starts for multimodal targets"
        )

    def default_optimizer(self, num_steps: int) -> Any:
        """:class:`~probapprox.optim.IsoMixtureDescent` with this guide's step settings.

        The step size decays (cosine) to a tenth over the run so the stochastic iterates
        settle; pass ``IsoMixtureDescent(step_size)`` for the paper's constant step.
        """
        from probapprox.optim import IsoMixtureDescent

        return IsoMixtureDescent(
            self.step_size,
            variance_step=self.variance_step,
            prefix=self.prefix,
            decay_steps=num_steps,
        )

    def _params(self) -> fam.IsoMixture:
        n, d = self.num_components, self.latent_dim
        centre = self._init_latent
        radius = self.init_radius

        def init_means(key: jax.Array) -> jax.Array:
            offsets = jax.random.uniform(key, (n, d), minval=-radius, maxval=radius)
            return centre + offsets.astype(centre.dtype)

        means = numpyro.param(f"{self.prefix}_means", init_means)
        variances = numpyro.param(
            f"{self.prefix}_variances",
            jnp.full((n,), self.init_variance, dtype=centre.dtype),
            constraint=constraints.positive,
        )
        if self.weights == "learned":
            logits = numpyro.param(f"{self.prefix}_logits", jnp.zeros((n,), dtype=centre.dtype))
        else:
            logits = jnp.zeros((n,), dtype=centre.dtype)
        return fam.IsoMixture(means, variances, logits)

    def _get_posterior(self) -> IsoGaussianMixtureDistribution:
        return IsoGaussianMixtureDistribution(self._params())

    def mixture(self, params: dict) -> fam.IsoMixture:
        """The fitted mixture (unconstrained space) from constrained ``params``."""
        n = self.num_components
        means = params[f"{self.prefix}_means"]
        logits = params.get(f"{self.prefix}_logits", jnp.zeros((n,), dtype=means.dtype))
        return fam.IsoMixture(means, params[f"{self.prefix}_variances"], logits)

    def get_posterior(self, params: dict) -> IsoGaussianMixtureDistribution:
        """The mixture over the flat unconstrained latent."""
        return IsoGaussianMixtureDistribution(self.mixture(params))

    def median(self, params: dict) -> dict[str, jax.Array]:
        """Constrained location of the heaviest component (documented choice: a mode-ish point)."""
        mix = self.mixture(params)
        loc = mix.means[jnp.argmax(mix.logits)]
        return self._unpack_and_constrain(loc, params)

    def quantiles(self, params: dict, quantiles: Any) -> dict[str, jax.Array]:
        """Per-site marginal quantiles, from 20 000 draws (no closed form for mixtures)."""
        q = jnp.asarray(quantiles)
        draws = self.get_posterior(params).sample(jax.random.PRNGKey(0), (20_000,))
        latent_q = jnp.quantile(draws, q, axis=0)
        return self._unpack_and_constrain(latent_q, params)
