import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr
from numpyro.infer.autoguide import AutoMultivariateNormal

import probapprox as pa
from probapprox.models import get_model


@pytest.fixture(scope="module")
def tree():
    bm = get_model("eight_schools")
    r = pa.fit(
        bm.model,
        AutoMultivariateNormal(bm.model),
        *bm.args,
        num_steps=500,
        progress=False,
        warm_start=False,  # the export is under test, not the start (eight schools' is costly)
        **bm.kwargs,
    )
    return r, r.to_arviz(num_samples=400, seed=0)


def test_groups_and_shapes(tree):
    r, dt = tree
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(dt.children)
    post = dt["posterior"]
    assert post["mu"].shape == (1, 400)
    assert post["theta"].shape == (1, 400, 8)  # deterministic site included
    stats = dt["sample_stats"]
    assert stats["log_p"].shape == (1, 400) and stats["log_q"].shape == (1, 400)
    np.testing.assert_allclose(stats["log_weight"], stats["log_p"] - stats["log_q"])
    np.testing.assert_array_equal(stats["loss"].values, r.losses)
    np.testing.assert_array_equal(
        dt["observed_data"]["obs"].values, get_model("eight_schools").kwargs["y"]
    )
    assert dt["log_likelihood"]["obs"].shape == (1, 400, 8)
    # same draws as sample() with the same seed
    np.testing.assert_array_equal(post["tau"].values[0], r.sample(400, seed=0)["tau"])


def test_arviz_functions_accept_it(tree, tmp_path):
    _, dt = tree
    summary = az.summary(dt, var_names=["mu", "tau"])
    assert summary.shape[0] == 2
    ess = az.ess(dt, var_names=["mu"])
    assert float(ess["mu"]) > 200  # independent draws
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LOO's own k̂ warning at 400 draws
        loo = az.loo(dt)
    assert np.isfinite(float(loo.elpd))
    import matplotlib

    matplotlib.use("Agg")
    az.plot_dist(dt, var_names=["mu", "tau"])
    path = tmp_path / "fit.nc"
    dt.to_netcdf(path)
    for reopened in (az.from_netcdf(path), xr.open_datatree(path)):
        np.testing.assert_array_equal(
            reopened["posterior"]["mu"].values, dt["posterior"]["mu"].values
        )
