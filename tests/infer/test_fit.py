import jax
import numpy as np
import optax
import pytest
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import (
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from numpyro.optim import Adam

import probapprox as pa
from probapprox.estimators import PathELBO
from probapprox.models import get_model
from tests.infer.conftest import hier_model, linreg_model


def test_linear_regression_matches_exact_posterior():
    """Acceptance: AutoMultivariateNormal through pa.fit with default settings."""
    bm = get_model("linear_regression")
    ref = bm.reference
    result = pa.fit(
        bm.model, AutoMultivariateNormal(bm.model), *bm.args, progress=False, **bm.kwargs
    )
    draws = result.sample(40_000, seed=3)["beta"]
    mean, sd = ref.mean["beta"], ref.sd["beta"]
    assert np.all(np.abs(draws.mean(0) - mean) / sd < 0.05)
    cov = np.cov(draws.T)
    assert np.linalg.norm(cov - ref.cov) / np.linalg.norm(ref.cov) < 0.10
    # the fitted parameters themselves, free of Monte Carlo error, are much closer
    loc = np.asarray(result.params["auto_loc"])
    L = np.asarray(result.params["auto_scale_tril"])
    assert np.all(np.abs(loc - mean) / sd < 0.01)
    assert np.linalg.norm(L @ L.T - ref.cov) / np.linalg.norm(ref.cov) < 0.05


@pytest.mark.parametrize(
    "guide_cls", [AutoNormal, AutoMultivariateNormal, AutoLowRankMultivariateNormal]
)
def test_autoguides_fit_and_sample(guide_cls, hier_data):
    result = pa.fit(hier_model, guide_cls(hier_model), *hier_data, num_steps=300, progress=False)
    assert result.losses.shape == (300,)
    assert np.all(np.isfinite(result.losses))
    assert result.losses[-50:].mean() < result.losses[:50].mean()
    draws = result.sample(200, seed=0)
    assert set(draws) == {"mu", "tau", "z", "theta"}
    assert draws["z"].shape == (200, 8) and draws["theta"].shape == (200, 8)
    assert np.all(draws["tau"] > 0)
    np.testing.assert_allclose(
        draws["theta"], draws["mu"][:, None] + draws["tau"][:, None] * draws["z"], rtol=1e-10
    )


def test_same_losses_as_numpyro_svi(linreg_data):
    """The chunked loop is NumPyro's SVI step (equal up to floating-point round-off)."""
    X, y = linreg_data
    opt = Adam(1e-2)
    ours = pa.fit(
        linreg_model,
        AutoNormal(linreg_model),
        X,
        y,
        num_steps=137,
        chunk_size=10,
        optimizer=opt,
        loss=Trace_ELBO(),
        progress=False,
        warm_start=False,
        early_stop=False,
    )
    svi = SVI(linreg_model, AutoNormal(linreg_model), opt, Trace_ELBO())
    ref = svi.run(jax.random.PRNGKey(0), 137, X, y, progress_bar=False)
    np.testing.assert_allclose(ours.losses, np.asarray(ref.losses), rtol=1e-12)
    for k in ref.params:
        np.testing.assert_allclose(
            np.asarray(ours.params[k]), np.asarray(ref.params[k]), rtol=1e-12
        )


def test_chunking_does_not_change_the_fit(linreg_data):
    X, y = linreg_data
    runs = [
        pa.fit(
            linreg_model,
            AutoMultivariateNormal(linreg_model),
            X,
            y,
            num_steps=101,
            chunk_size=c,
            progress=False,
        )
        for c in (1, 7, 101, 500)
    ]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.losses, runs[0].losses)
        np.testing.assert_array_equal(r.params["auto_loc"], runs[0].params["auto_loc"])


def test_optax_optimizer_and_guide_name(linreg_data):
    X, y = linreg_data
    r = pa.fit(
        linreg_model,
        "AutoDiagonalNormal",
        X,
        y,
        num_steps=50,
        optimizer=optax.adam(1e-2),
        progress=False,
    )
    assert type(r.guide).__name__ == "AutoDiagonalNormal"
    assert r.info["loss"] == "PathELBO"


def test_default_estimator_choice(linreg_data):
    X, y = linreg_data
    r = pa.fit(linreg_model, AutoNormal(linreg_model), X, y, num_steps=5, progress=False)
    assert r.info["loss"] == "PathELBO"
    r = pa.fit(linreg_model, "AutoDelta", X, y, num_steps=5, progress=False)
    assert r.info["loss"] == "Trace_ELBO"


def test_guide_may_choose_its_estimator_and_optimizer(linreg_data):
    X, y = linreg_data
    calls = {}

    class MyGuide(AutoNormal):
        def default_loss(self):
            calls["loss"] = True
            return Trace_ELBO(num_particles=2)

        def default_optimizer(self, num_steps):
            calls["optimizer"] = num_steps
            return Adam(1e-3)

    pa.fit(linreg_model, MyGuide(linreg_model), X, y, num_steps=12, progress=False)
    assert calls == {"loss": True, "optimizer": 12}


def test_progress_bar_and_callback(linreg_data, capsys):
    X, y = linreg_data
    seen = []
    pa.fit(
        linreg_model,
        AutoNormal(linreg_model),
        X,
        y,
        num_steps=100,
        chunk_size=25,
        progress=True,
        callback=lambda step, losses: seen.append((step, len(losses))),
    )
    assert seen == [(25, 25), (50, 25), (75, 25), (100, 25)]
    err = capsys.readouterr().err
    assert "100/100" in err and "loss" in err


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_steps": 0}, "num_steps"),
        ({"num_steps": 2.5}, "num_steps"),
        ({"seed": -1}, "seed"),
        ({"checkpoint_every": 10}, "checkpoint"),
        ({"optimizer": "adam"}, "optimizer"),
    ],
)
def test_bad_arguments(kwargs, match, linreg_data):
    X, y = linreg_data
    with pytest.raises((ValueError, TypeError), match=match):
        pa.fit(linreg_model, AutoNormal(linreg_model), X, y, progress=False, **kwargs)


def test_unknown_guide_name_lists_valid_names(linreg_data):
    with pytest.raises(ValueError, match="AutoMultivariateNormal"):
        pa.fit(linreg_model, "AutoMultivariateNormall", *linreg_data, num_steps=5)


def test_path_elbo_is_default_but_trace_elbo_is_accepted(linreg_data):
    X, y = linreg_data
    r = pa.fit(
        linreg_model, AutoNormal(linreg_model), X, y, num_steps=20, loss=PathELBO(2), progress=False
    )
    assert r.info["loss"] == "PathELBO"
