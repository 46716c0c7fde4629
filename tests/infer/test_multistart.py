"""Multi-start fits: dispersed starts in one vectorised program, disagreement, best and stack."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

import probapprox as pa
from probapprox.infer._multistart import rhat_across
from tests.infer.conftest import linreg_model

WEIGHTS = jnp.array([0.3, 0.7])


def two_modes():
    """Two well-separated Gaussian modes (masses 0.3 and 0.7) in x, times a N(0, 1) in y."""
    mix = dist.MixtureSameFamily(
        dist.Categorical(probs=WEIGHTS), dist.Normal(jnp.array([-3.0, 3.0]), 0.5)
    )
    numpyro.sample("x", mix)
    numpyro.sample("y", dist.Normal(0.0, 1.0))


@pytest.fixture(scope="module")
def stacked():
    with pytest.warns(pa.ConvergenceWarning, match="8 starts disagree"):
        return pa.fit(
            two_modes,
            AutoMultivariateNormal(two_modes),
            num_steps=600,
            num_starts=8,
            multi_start="stack",
            progress=False,
        )


def test_two_modes_are_found_and_the_disagreement_reported(stacked):
    locs = np.array([np.asarray(p["auto_loc"])[0] for p in stacked.stack.params])
    assert (locs < -2).any() and (locs > 2).any()
    assert len(stacked.starts) == 8 and stacked.info["rhat_across_starts"] > 2
    elbos = np.array(stacked.info["start_elbos"])
    assert elbos.max() - elbos.min() > 0.5  # log 0.7 - log 0.3 = 0.85


def test_stack_recovers_the_mode_weights(stacked):
    w = np.asarray(stacked.stack.weights)
    locs = np.array([np.asarray(p["auto_loc"])[0] for p in stacked.stack.params])
    assert abs(w[locs > 0].sum() - 0.7) < 0.1
    x = stacked.sample(4000, seed=1)["x"]
    assert abs((x > 0).mean() - 0.7) < 0.1
    diag = stacked.diagnostics(num_samples=4000, warn=False)
    assert diag.pareto_k < 0.7 and abs(diag.elbo) < 0.05  # log Z = 0


def test_best_start_is_the_heavier_mode():
    with pytest.warns(pa.ConvergenceWarning, match="disagree"):
        r = pa.fit(
            two_modes,
            AutoMultivariateNormal(two_modes),
            num_steps=300,
            num_starts=4,
            progress=False,
        )
    assert r.stack is None and np.asarray(r.params["auto_loc"])[0] > 2
    assert r.info["selected_start"] == int(np.nanargmax(r.info["start_elbos"]))


def test_agreeing_starts_do_not_warn(linreg_data):
    r = pa.fit(
        linreg_model,
        AutoNormal(linreg_model),
        *linreg_data,
        num_steps=400,
        num_starts=3,
        progress=False,
    )
    assert r.info["rhat_across_starts"] < 1.05
    assert r.losses.shape == (len(r.losses),) and r.info["losses_all_starts"].shape[1] == 3


def test_stack_saves_and_loads(tmp_path, stacked):
    stacked.save(tmp_path / "stack.npz")
    again = pa.load(tmp_path / "stack.npz", two_modes)
    np.testing.assert_array_equal(again.sample(100, seed=3)["x"], stacked.sample(100, seed=3)["x"])


def test_rhat_across_runs():
    rng = np.random.default_rng(0)
    same = [rng.normal(size=(1000, 2)) for _ in range(4)]
    assert rhat_across(same) < 1.01
    shifted = [x + np.array([k, 0.0]) for k, x in enumerate(same)]
    assert rhat_across(shifted) > 1.5


def test_multistart_resume_is_bit_exact(tmp_path, linreg_data):
    def run(**kw):
        return pa.fit(
            linreg_model,
            AutoNormal(linreg_model),
            *linreg_data,
            num_steps=120,
            chunk_size=10,
            num_starts=2,
            progress=False,
            early_stop=False,
            **kw,
        )

    full = run()
    path = tmp_path / "ckpt.npz"

    def stop_at_60(done, _losses):
        if done >= 60:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=path, checkpoint_every=30, callback=stop_at_60)
    resumed = run(checkpoint=path, checkpoint_every=30)
    np.testing.assert_array_equal(resumed.info["losses_all_starts"], full.info["losses_all_starts"])
    for k in full.params:
        np.testing.assert_array_equal(np.asarray(resumed.params[k]), np.asarray(full.params[k]))
