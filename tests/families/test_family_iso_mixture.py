import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.stats import multivariate_normal

from probapprox.families import iso_mixture as fam


def _mix(n=4, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return fam.IsoMixture(
        means=jnp.asarray(rng.normal(size=(n, d)) * 2),
        variances=jnp.asarray(rng.uniform(0.3, 2.0, size=n)),
        logits=jnp.asarray(rng.normal(size=n)),
    )


def test_log_prob_matches_scipy():
    mix = _mix()
    x = np.random.default_rng(1).normal(size=(7, 3)) * 2
    w = np.asarray(jax.nn.softmax(mix.logits))
    ref = np.log(
        sum(
            w[j]
            * multivariate_normal(
                np.asarray(mix.means[j]), float(mix.variances[j]) * np.eye(3)
            ).pdf(x)
            for j in range(4)
        )
    )
    np.testing.assert_allclose(fam.log_prob(jnp.asarray(x), mix), ref, rtol=1e-10)
    assert fam.log_prob(jnp.asarray(x), mix).shape == (7,)


def test_score_is_gradient_of_log_prob():
    mix = _mix()
    for x in np.random.default_rng(2).normal(size=(5, 3)):
        x = jnp.asarray(x)
        np.testing.assert_allclose(
            fam.score(x, mix), jax.grad(lambda y: fam.log_prob(y, mix))(x), rtol=1e-10, atol=1e-12
        )
    r = fam.responsibilities(jnp.zeros(3), mix)
    assert float(r.sum()) == pytest.approx(1.0)


def test_check_grads_log_prob():
    mix = _mix()
    x = jnp.asarray(np.random.default_rng(3).normal(size=(2, 3)))
    check_grads(
        lambda m, v, a: fam.log_prob(x, fam.IsoMixture(m, v, a)), mix, order=1, modes=("fwd", "rev")
    )
    check_grads(lambda y: fam.log_prob(y, mix), (x,), order=2, modes=("fwd", "rev"))


def test_stable_far_from_every_component():
    """The paper's code computes the score as a ratio of exps: 0/0 far away. Ours stays finite."""
    d = 50
    mix = fam.IsoMixture(jnp.zeros((3, d)), jnp.array([0.1, 0.2, 0.3]), jnp.zeros(3))
    x = jnp.full(d, 1e3)
    assert np.isfinite(float(fam.log_prob(x, mix)))
    s = fam.score(x, mix)
    assert np.all(np.isfinite(np.asarray(s)))
    np.testing.assert_allclose(s, -x / 0.3, rtol=1e-6)  # the widest component dominates


def test_sampling_moments():
    mix = _mix(n=3, d=2)
    x = fam.sample(jax.random.PRNGKey(0), mix, (200_000,))
    w = jax.nn.softmax(mix.logits)
    mean = w @ mix.means
    var = w @ (mix.means**2 + mix.variances[:, None]) - mean**2
    se = np.sqrt(var / 200_000)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * se)
    np.testing.assert_allclose(x.var(0), var, rtol=0.02)


def test_stratified_sample_shapes_and_moments():
    mix = _mix(n=3, d=2)
    z = fam.stratified_sample(jax.random.PRNGKey(1), mix, 50_000)
    assert z.shape == (3, 50_000, 2)
    np.testing.assert_allclose(z.mean(1), mix.means, atol=0.05)
    np.testing.assert_allclose(
        z.var(1), jnp.broadcast_to(mix.variances[:, None], (3, 2)), rtol=0.03
    )


def test_entropy_of_single_gaussian():
    d, eps = 3, 0.7
    mix = fam.IsoMixture(jnp.zeros((1, d)), jnp.array([eps]), jnp.zeros(1))
    exact = 0.5 * d * np.log(2 * np.pi * np.e * eps)
    est = fam.entropy(jax.random.PRNGKey(0), mix, 100_000)
    assert float(est) == pytest.approx(exact, abs=0.02)
