import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.autoguide import AutoMultivariateNormal

import probapprox as pa
from probapprox.families.gaussian import entropy_prox, fb_gvi_update, kl_gaussians
from probapprox.optim import FBGVI


def _target(d=10, cond=200.0, seed=0):
    """Gaussian target with precision spectrum geometric in [1/cond, 1] (Diao et al. 2023)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    eig = np.geomspace(1.0 / cond, 1.0, d)
    precision = (q * eig) @ q.T
    return jnp.asarray(rng.uniform(size=d)), jnp.asarray(precision)


def test_entropy_prox_solves_its_fixed_point_equation():
    """Σ' is the BW-JKO step of -H: per eigenvector s - sqrt(λ s) = η, so (Σ' - ηI)² = Σ_h Σ'."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    s_half = jnp.asarray(a @ a.T + 0.1 * np.eye(4))
    eta = 0.3
    s_new = entropy_prox(s_half, eta)
    eye = jnp.eye(4)
    np.testing.assert_allclose(
        (s_new - eta * eye) @ (s_new - eta * eye), s_half @ s_new, atol=1e-10
    )
    assert float(jnp.linalg.eigvalsh(s_new).min()) > eta


def test_kl_gaussians_matches_monte_carlo():
    m0, m1 = jnp.array([0.0, 1.0]), jnp.array([0.5, -0.5])
    s0, s1 = jnp.array([[1.0, 0.3], [0.3, 0.5]]), jnp.array([[2.0, -0.4], [-0.4, 1.0]])
    x = jax.random.multivariate_normal(jax.random.PRNGKey(0), m0, s0, (400_000,))
    lp = jax.scipy.stats.multivariate_normal.logpdf
    mc = jnp.mean(lp(x, m0, s0) - lp(x, m1, s1))
    assert float(kl_gaussians(m0, s0, m1, s1)) == pytest.approx(float(mc), abs=5e-3)


def test_deterministic_fbgvi_decreases_kl_monotonically_with_pd_iterates():
    """10-D Gaussian target, condition number 200: KL -> < 1e-3, monotone, always PD."""
    mu, precision = _target()
    target_cov = jnp.linalg.inv(precision)
    step = jax.jit(lambda m, s: fb_gvi_update(m, s, precision @ (m - mu), precision, 1.0))
    m, s = jnp.zeros(10), jnp.eye(10)
    kls = [float(kl_gaussians(m, s, mu, target_cov))]
    for _ in range(2500):
        m, s = step(m, s)
        assert float(jnp.linalg.eigvalsh(s).min()) > 0
        kls.append(float(kl_gaussians(m, s, mu, target_cov)))
    assert np.all(np.diff(kls) <= 1e-12)
    assert kls[-1] < 1e-3


def test_fbgvi_through_fit_on_a_numpyro_model():
    mu, precision = _target(d=5, cond=20.0)

    def model():
        numpyro.sample("x", dist.MultivariateNormal(mu, precision_matrix=precision))

    r = pa.fit(
        model,
        AutoMultivariateNormal(model),
        num_steps=600,
        optimizer=FBGVI(0.5, evaluate_at="mean"),
        progress=False,
    )
    assert r.info["loss"] == "FBGVILoss"
    L = r.params["auto_scale_tril"]
    kl = kl_gaussians(r.params["auto_loc"], L @ L.T, mu, jnp.linalg.inv(precision))
    assert float(kl) < 1e-3
    # stochastic version: noisy, but lands near the target with a small step
    r2 = pa.fit(
        model, AutoMultivariateNormal(model), num_steps=3000, optimizer=FBGVI(0.05), progress=False
    )
    L2 = r2.params["auto_scale_tril"]
    assert (
        float(kl_gaussians(r2.params["auto_loc"], L2 @ L2.T, mu, jnp.linalg.inv(precision))) < 0.05
    )


def test_fbgvi_bad_arguments():
    with pytest.raises(ValueError, match="step_size"):
        FBGVI(0.0)
    with pytest.raises(ValueError, match="evaluate_at"):
        FBGVI(0.1, evaluate_at="mode")
