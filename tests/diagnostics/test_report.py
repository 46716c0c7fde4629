import warnings

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

import probapprox as pa
from probapprox.diagnostics import diagnose


def std_normal():
    numpyro.sample("x", dist.Normal(0.0, 1.0))


def test_khat_known_answer_through_fit_result():
    """p = N(0, 1), q = N(0, s^2): k = 1 - s^2 (Yao et al. 2018); s = 0.5 -> 0.75.

    k̂ from 10^5 draws still scatters by about ±0.05 across seeds (and runs slightly
    low at this size), so the mean over four independent sets of draws is checked.
    """
    guide = AutoNormal(std_normal)
    r = pa.fit(std_normal, guide, num_steps=1, progress=False)
    for s, expected in [(0.5, 0.75), (0.8, 0.36)]:
        params = {"x_auto_loc": jnp.array(0.0), "x_auto_scale": jnp.array(s)}
        fixed = pa.FitResult(model=std_normal, guide=guide, params=params, losses=r.losses)
        ks = []
        for seed in range(4):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pa.ApproximationWarning)
                d = fixed.diagnostics(100_000, seed=seed)
            ks.append(d.pareto_k)
            assert abs(d.pareto_k - expected) < 0.15
            # log Z = 0, and the ELBO is -KL(q || p) = log s - s^2/2 + 1/2
            assert d.elbo == pytest.approx(np.log(s) - s**2 / 2 + 0.5, abs=4 * d.elbo_se)
        assert abs(np.mean(ks) - expected) < 0.1
    with pytest.warns(pa.ApproximationWarning, match="k̂"):
        fixed_bad = pa.FitResult(
            model=std_normal,
            guide=guide,
            params={"x_auto_loc": jnp.array(0.0), "x_auto_scale": jnp.array(0.3)},
            losses=r.losses,
        )
        assert fixed_bad.diagnostics(100_000).pareto_k > 0.7


def correlated(rho=0.95):
    cov = jnp.array([[1.0, rho], [rho, 1.0]])
    numpyro.sample("x", dist.MultivariateNormal(jnp.zeros(2), cov))


def test_meanfield_flags_correlation_fullrank_does_not():
    mf = pa.fit(correlated, AutoNormal(correlated), num_steps=3000, progress=False)
    with pytest.warns(pa.ApproximationWarning, match="k̂"):
        d_mf = mf.diagnostics(20_000, seed=1)
    assert d_mf.pareto_k > 0.7
    fr = pa.fit(correlated, AutoMultivariateNormal(correlated), num_steps=3000, progress=False)
    d_fr = fr.diagnostics(20_000, seed=1, warn=False)
    assert d_fr.pareto_k < 0.5
    assert d_fr.warnings == ()
    # exact posterior: ELBO = log Z = 0 with (almost) no spread
    assert abs(d_fr.elbo) < 1e-3


def test_elbo_matches_normal_normal_evidence():
    from probapprox.models import get_model

    bm = get_model("normal_normal")
    r = pa.fit(
        bm.model, AutoNormal(bm.model), *bm.args, num_steps=2000, progress=False, **bm.kwargs
    )
    d = r.diagnostics(10_000, warn=False)
    # the family contains the posterior: ELBO = log Z
    assert d.elbo == pytest.approx(bm.reference.log_Z, abs=1e-3)
    assert d.pareto_k < 0.5


def test_nonfinite_log_weights_are_reported():
    log_p = np.r_[np.zeros(990), np.full(10, -np.inf)]
    d = diagnose(log_p, np.zeros(1000))
    assert any("10 of 1000" in w for w in d.warnings)


def test_str_mentions_all_numbers():
    d = diagnose(np.random.default_rng(0).normal(size=5000), np.zeros(5000))
    text = str(d)
    assert "ELBO" in text and "k̂" in text and "ESS" in text
