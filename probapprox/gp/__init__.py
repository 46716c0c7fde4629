"""Latent Gaussian processes: kernels, likelihoods and Gauss–Hermite expectations.

>>> import jax.numpy as jnp
>>> from probapprox.gp import Matern32, make_likelihood
>>> kernel = Matern32(lengthscale=jnp.array([0.5, 1.0]), variance=2.0)
>>> K = kernel(jnp.zeros((3, 2)), jnp.ones((4, 2)))  # (3, 4) Gram matrix
>>> lik = make_likelihood("bernoulli")
>>> elbo_term = lik.expected_log_prob(1.0, 0.3, 0.5)  # E_{N(0.3, 0.5)} log σ(f)

The column ELBO (``probapprox.gp._elbo``) and the Gauss–Hermite rules
(``probapprox.gp._quadrature``) are internals of these classes, not public API;
``inverse_permutation`` (the order map of a ``Pattern``) is importable here for
``probapprox.guides`` but is not in ``__all__``.

Kernels and likelihoods are frozen JAX pytrees with positive parameters as leaves, plus
``to_unconstrained()`` / ``from_unconstrained(...)`` (log map) for an optimiser. Their
evaluation methods (``__call__``, ``diag``, ``log_prob``, ``expected_log_prob``,
``predictive_log_prob``, ``predict_y``) are ``jax.jit``-wrapped with the object as a pytree
argument, so eager calls compile once per shape and configuration. Pure JAX;
the float64 accuracy claims need 64-bit floats (``jax_enable_x64``) enabled by the caller.
"""

from probapprox.gp._kernels import RBF as RBF
from probapprox.gp._kernels import Kernel as Kernel
from probapprox.gp._kernels import Matern12 as Matern12
from probapprox.gp._kernels import Matern32 as Matern32
from probapprox.gp._kernels import Matern52 as Matern52
from probapprox.gp._latent_gp import LatentGP as LatentGP
from probapprox.gp._latent_likelihoods import Bernoulli as Bernoulli
from probapprox.gp._latent_likelihoods import Gaussian as Gaussian
from probapprox.gp._latent_likelihoods import Likelihood as Likelihood
from probapprox.gp._latent_likelihoods import Poisson as Poisson
from probapprox.gp._latent_likelihoods import StudentT as StudentT
from probapprox.gp._latent_likelihoods import make_likelihood as make_likelihood
from probapprox.gp._vecchia_prior import VecchiaGP as VecchiaGP
from probapprox.gp._vecchia_prior import inverse_permutation as inverse_permutation

__all__ = [
    "RBF",
    "Bernoulli",
    "Gaussian",
    "Kernel",
    "LatentGP",
    "Likelihood",
    "Matern12",
    "Matern32",
    "Matern52",
    "Poisson",
    "StudentT",
    "VecchiaGP",
    "make_likelihood",
]
