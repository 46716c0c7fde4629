r"""Synthetic Gaussian-mixture targets of Petit-Talamon, Lambert & Korba (2025), App. E.2.

.. math::
    p(x) = \sum_{k=1}^{K} \pi_k\, \mathcal N(x;\, \mu_k,\, \mathrm{diag}(\sigma_k^2)),

with :math:`\mu_k \sim U([-s, s]^d)`, variances drawn from :math:`U(1, 10)`, divided by their
maximum and multiplied by :math:`r` ("diag" covariances), and weights drawn as integers in
:math:`[1, 2K)` and normalised, all from a fixed NumPy seed. The density is normalised
(log Z = 0) and its moments are exact.
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp

from probapprox.models._reference import BundledModel, Reference

__all__ = ["bundles", "make_mog", "mog", "mog_log_density"]


def make_mog(dim: int, num_modes: int, spread: float, scale: float, seed: int):
    """Draw ``(weights (K,), means (K, d), variances (K, d))`` as in the paper's App. E.2."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-spread, spread, size=(num_modes, dim))
    raw = rng.uniform(1.0, 10.0, size=(num_modes, dim))
    variances = raw / raw.max() * scale
    counts = rng.integers(1, 2 * num_modes, size=num_modes).astype(float)
    return counts / counts.sum(), means, variances


def mog_log_density(x, weights, means, variances):
    """Normalised log density of the diagonal Gaussian mixture at one point ``x (d,)``."""
    comp = -0.5 * jnp.sum((x - means) ** 2 / variances + jnp.log(2 * jnp.pi * variances), axis=-1)
    return logsumexp(jnp.log(weights) + comp)


def mog(weights, means, variances):
    r"""Model the mixture as a flat prior on ``x`` plus a factor with its exact log density."""
    d = means.shape[-1]
    x = numpyro.sample("x", dist.ImproperUniform(dist.constraints.real_vector, (), (d,)))
    numpyro.factor("log_density", mog_log_density(x, weights, means, variances))


def _bundle(name, dim, num_modes, spread, scale, seed, what):
    w, m, v = make_mog(dim, num_modes, spread, scale, seed)
    mean = w @ m
    second = np.einsum("k,ki,kj->ij", w, m, m) + np.diag(w @ v)
    cov = second - np.outer(mean, mean)
    ref = Reference(
        mean={"x": mean}, sd={"x": np.sqrt(np.diag(cov))}, cov=cov, sites=("x",), log_Z=0.0
    )
    desc = f"{what}: {num_modes}-component diagonal Gaussian mixture in {dim}-D (seed {seed})."
    return BundledModel(
        name=name, model=mog, args=(w, m, v), kwargs={}, description=desc, reference=ref
    )


def bundles() -> list[BundledModel]:
    """The paper's Fig. 1 target (2-D, {s, r, K} = {8, 5, 5}) and a 10-D five-mode target."""
    return [
        _bundle("mog2d", 2, 5, 8.0, 5.0, 0, "Paper Fig. 1 target"),
        _bundle("mog10d", 10, 5, 10.0, 1.0, 1, "Paper Fig. 2-style target"),
    ]
