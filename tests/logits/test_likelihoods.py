"""NormCDFCategorical and SigmoidCategorical: normalisation, log_prob, sampling, NumPyro use."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.util import log_density
from scipy.special import expit, ndtr

from probapprox.logits import NormCDFCategorical, SigmoidCategorical

CASES = [(NormCDFCategorical, ndtr), (SigmoidCategorical, expit)]
IDS = ["normcdf", "sigmoid"]
Z = np.array([[0.5, -1.0, 2.0, 0.0], [-3.0, 1.0, 1.0, 0.2], [0.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize(("cls", "link"), CASES, ids=IDS)
def test_probs_and_log_prob(cls, link):
    d = cls(Z)
    want = link(Z) / link(Z).sum(-1, keepdims=True)
    np.testing.assert_allclose(d.probs, want, rtol=1e-12)
    np.testing.assert_allclose(d.probs.sum(-1), 1.0)
    assert d.batch_shape == (3,) and d.event_shape == ()
    values = np.array([[2], [0], [3], [1], [1]])  # (5, 1) broadcasts against batch (3,)
    lp = d.log_prob(values)
    assert lp.shape == (5, 3)
    np.testing.assert_allclose(lp, np.log(want[np.arange(3), values]), rtol=1e-12)
    np.testing.assert_allclose(d.entropy(), -(want * np.log(want)).sum(-1), rtol=1e-12)


@pytest.mark.parametrize(("cls", "link"), CASES, ids=IDS)
def test_extreme_logits_stay_finite(cls, link):
    d = cls(jnp.array([-60.0, 0.0, 60.0]))
    lp = np.asarray(d.log_prob(jnp.arange(3)))
    assert np.isfinite(lp).all()
    if cls is NormCDFCategorical:  # log Φ(-60) ≈ -1804.7 (naive log(ndtr) is -inf)
        assert lp[0] == pytest.approx(-1804.7 - np.log(1.5), abs=0.5)


@pytest.mark.parametrize(("cls", "link"), CASES, ids=IDS)
def test_sampling_frequencies(cls, link):
    d = cls(Z)
    n = 100_000
    x = np.asarray(d.sample(jax.random.key(0), (n,)))
    assert x.shape == (n, 3) and x.dtype.kind == "i"
    freq = np.stack([(x == c).mean(0) for c in range(4)], -1)
    p = np.asarray(d.probs)
    assert (np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12).all()


def test_support_and_enumeration():
    d = NormCDFCategorical(Z)
    assert d.support.lower_bound == 0 and d.support.upper_bound == 3
    assert d.support.is_discrete
    assert d.enumerate_support().shape == (4, 3)
    assert d.enumerate_support(expand=False).shape == (4, 1)
    np.testing.assert_allclose(
        jax.nn.logsumexp(d.log_prob(d.enumerate_support()), 0), 0.0, atol=1e-14
    )
    with pytest.raises(ValueError, match="logits"):
        NormCDFCategorical(jnp.array(1.0))


def test_pytree_and_jit():
    d = SigmoidCategorical(Z)
    lp = jax.jit(lambda dd: dd.log_prob(jnp.array([0, 1, 2])))(d)
    np.testing.assert_allclose(lp, d.log_prob(jnp.array([0, 1, 2])))


def test_inside_numpyro_model():
    labels = jnp.array([0] * 60 + [1] * 30 + [2] * 10)

    def model(y=None):
        z = numpyro.param("z", jnp.zeros(3))
        with numpyro.plate("data", labels.shape[0]):
            numpyro.sample("y", NormCDFCategorical(z), obs=y)

    # log_density sums the per-point log probabilities
    z0 = jnp.array([0.3, -0.2, 0.1])
    lp, _ = log_density(model, (labels,), {}, {"z": z0})
    np.testing.assert_allclose(lp, NormCDFCategorical(z0).log_prob(labels).sum(), rtol=1e-12)
    # maximum likelihood by SVI (no latent sites): probs reach the label frequencies
    svi = SVI(model, lambda y=None: None, numpyro.optim.Adam(0.05), Trace_ELBO())
    result = svi.run(jax.random.key(0), 1500, labels, progress_bar=False)
    probs = NormCDFCategorical(result.params["z"]).probs
    np.testing.assert_allclose(probs, [0.6, 0.3, 0.1], atol=0.01)
