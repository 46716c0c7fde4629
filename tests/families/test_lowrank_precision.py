"""Low-rank-plus-isotropic precision Gaussian against the dense Gaussian with the same precision."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads
from numpyro.distributions import MultivariateNormal

from probapprox.families.lowrank_precision import (
    lowrank_precision_log_prob,
    lowrank_precision_sample,
    lowrank_precision_var,
)
from probapprox.guides import LowRankPrecisionNormal

D, K = 6, 2
Q = jnp.linalg.qr(jnp.asarray(np.random.default_rng(0).normal(size=(D, K))))[0]
LAM, REST, LOC = jnp.array([9.0, 4.0]), jnp.asarray(0.5), jnp.linspace(-1.0, 1.0, D)
PREC = Q @ jnp.diag(LAM) @ Q.T + REST * (jnp.eye(D) - Q @ Q.T)


def test_log_prob_and_variance_match_dense():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(5, D)))
    ref = MultivariateNormal(LOC, precision_matrix=PREC)
    np.testing.assert_allclose(
        lowrank_precision_log_prob(x, LOC, Q, LAM, REST), ref.log_prob(x), rtol=1e-12
    )
    np.testing.assert_allclose(
        lowrank_precision_var(Q, LAM, REST), np.diag(np.linalg.inv(PREC)), rtol=1e-12
    )


def test_samples_have_the_dense_covariance():
    d = LowRankPrecisionNormal(LOC, Q, LAM, REST)
    z = np.asarray(d.sample(jax.random.PRNGKey(0), (200_000,)))
    cov = np.linalg.inv(PREC)
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / len(z))
    assert np.all(np.abs(np.cov(z.T) - cov) < 4 * se + 1e-12)
    assert np.all(np.abs(z.mean(0) - LOC) < 4 * np.sqrt(np.diag(cov) / len(z)))
    # the square root is exact: P^{1/2} (z - m) is standard normal for each eps
    eps = jnp.asarray(np.random.default_rng(2).normal(size=D))
    zz = lowrank_precision_sample(LOC, Q, LAM, REST, eps)
    w, v = np.linalg.eigh(PREC)
    np.testing.assert_allclose((v * np.sqrt(w)) @ v.T @ (zz - LOC), eps, atol=1e-12)


def test_gradients():
    x = jnp.linspace(0.0, 0.5, D)
    check_grads(
        lambda m, lam, c: lowrank_precision_log_prob(x, m, Q, lam, c),
        (LOC, LAM, REST), order=1, modes=["fwd", "rev"],
    )  # fmt: skip
