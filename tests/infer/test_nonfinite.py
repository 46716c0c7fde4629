import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.autoguide import AutoNormal

import probapprox as pa

Y = np.full(10, 5.0)


def nan_above_two(y):
    """The likelihood is NaN once mu exceeds 2; the data pull mu towards 5."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    scale = jnp.where(mu > 2.0, jnp.nan, 1.0)
    numpyro.sample("obs", dist.Normal(mu, scale), obs=y)


def test_nan_likelihood_names_site_and_step():
    with pytest.raises(pa.NonFiniteError, match="model site 'obs'") as info:
        pa.fit(nan_above_two, AutoNormal(nan_above_two), Y, num_steps=2000, progress=False)
    err = info.value
    assert "obs" in err.sites
    assert f"step {err.step}" in str(err)
    assert "skip_nonfinite=True" in str(err)
    assert "Latent values of that draw (constrained): mu=" in str(err)
    assert 0 < err.step < 2000
    # the reported step is the first failing one: one step fewer runs cleanly
    ok = pa.fit(nan_above_two, AutoNormal(nan_above_two), Y, num_steps=err.step, progress=False)
    assert np.all(np.isfinite(ok.losses))


def test_skip_nonfinite_skips_and_counts():
    with pytest.warns(pa.NonFiniteWarning, match="model site 'obs' in"):
        r = pa.fit(
            nan_above_two,
            AutoNormal(nan_above_two),
            Y,
            num_steps=400,
            skip_nonfinite=True,
            progress=False,
        )
    assert r.num_skipped > 0
    assert r.info["nonfinite_sites"]["model site 'obs'"] >= 1
    assert np.isnan(r.losses).sum() == r.num_skipped
    assert all(np.all(np.isfinite(np.asarray(v))) for v in r.params.values())


def nan_gradient(y):
    """Finite loss but NaN gradient once a > 2 (0 * cbrt'(0)); the data pull a up."""
    a = numpyro.sample("a", dist.Normal(0.0, 10.0))
    numpyro.sample("obs", dist.Normal(a + jnp.cbrt(jnp.minimum(a - 2.0, 0.0)), 1.0), obs=y)


def test_nonfinite_gradient_names_parameter():
    with pytest.raises(pa.NonFiniteError, match="a_auto_loc") as info:
        pa.fit(nan_gradient, AutoNormal(nan_gradient), Y, num_steps=2000, progress=False)
    assert info.value.step > 0
    assert "non-finite gradient" in str(info.value)
    assert "obs" in info.value.sites


def positive_scale(y):
    s = numpyro.sample("s", dist.LogNormal(0.0, 1.0))
    numpyro.sample("obs", dist.Normal(0.0, s), obs=y)


def test_overflowing_constraining_transform_is_reported():
    """exp of an unconstrained draw of sd 800 overflows for about a third of the draws."""
    guide = AutoNormal(positive_scale, init_scale=800.0)
    with pytest.warns(pa.NonFiniteWarning, match="guide site 's' in") as rec:
        r = pa.fit(
            positive_scale,
            guide,
            Y,
            num_steps=60,
            skip_nonfinite=True,
            warm_start=False,
            early_stop=False,
            progress=False,
        )
    assert r.num_skipped > 0 and r.info["nonfinite_sites"]["guide site 's'"] >= 1
    assert "skipped" in str(rec[0].message) and "of 60 steps" in str(rec[0].message)
    assert (~np.isfinite(r.losses)).sum() <= r.num_skipped  # some skips had a finite loss


def test_fast_and_guarded_chunks_take_the_same_steps():
    """Without skip_nonfinite the chunk checks gradients only when a chunk fails; a clean fit
    takes exactly the guarded chunk's steps (skip_nonfinite=True runs the guarded one)."""
    kw = {"num_steps": 300, "early_stop": False, "progress": False}
    fast = pa.fit(positive_scale, AutoNormal(positive_scale), Y, **kw)
    guarded = pa.fit(positive_scale, AutoNormal(positive_scale), Y, skip_nonfinite=True, **kw)
    assert guarded.num_skipped == 0
    np.testing.assert_allclose(fast.losses, guarded.losses, rtol=1e-10)
    for name, value in fast.params.items():
        np.testing.assert_allclose(value, guarded.params[name], rtol=1e-10)
