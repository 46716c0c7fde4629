"""linalg.safe_cholesky: plain factor for PD input, jitter fallback for singular input."""

import jax.numpy as jnp
import numpy as np

import probapprox.linalg as pl


def test_positive_definite_is_the_plain_factor():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4, 4))
    cov = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(4)
    np.testing.assert_allclose(pl.safe_cholesky(cov), np.linalg.cholesky(cov), rtol=1e-12)


def test_singular_gets_the_documented_jitter():
    v = np.array([1.0, -2.0, 0.5])
    cov = np.stack([np.outer(v, v), np.eye(3)])  # rank one, then a PD matrix in the batch
    chol = np.asarray(pl.safe_cholesky(jnp.asarray(cov)))
    assert np.isfinite(chol).all()
    jitter = np.sqrt(np.finfo(np.float64).eps) * np.trace(cov[0]) / 3
    np.testing.assert_allclose(chol[0] @ chol[0].T, cov[0] + jitter * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(chol[1], np.eye(3))  # the batch's other entry is untouched
