import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpyro.infer.autoguide import (
    AutoLowRankMultivariateNormal,
    AutoNormal,
)

import probapprox as pa
from probapprox.models import get_model

GUIDES = [AutoNormal, AutoLowRankMultivariateNormal]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Fit eight schools with several guides; save with and without data."""
    bm = get_model("eight_schools")
    out = tmp_path_factory.mktemp("fits")
    results = {}
    for cls in GUIDES:
        r = pa.fit(  # unwhitened: a whitened fit's save/load is in test_warm_start.py
            bm.model, cls(bm.model), *bm.args, num_steps=200, progress=False, warm_start=False,
            **bm.kwargs,
        )  # fmt: skip
        r.save(out / f"{cls.__name__}.npz")
        r.save(out / f"{cls.__name__}_nodata.npz", include_data=False)
        results[cls.__name__] = r
    return out, results


def test_load_in_fresh_process_gives_identical_draws(saved):
    out, results = saved
    script = textwrap.dedent(
        f"""
        import json, sys, warnings
        import jax
        jax.config.update("jax_enable_x64", True)
        import numpy as np
        import probapprox as pa
        from probapprox.models import get_model
        model = get_model("eight_schools").model
        res = {{}}
        for name in {list(results)!r}:
            full = pa.load(r"{out}/" + name + ".npz", model)
            draws = full.sample(300, seed=11)
            np.savez(r"{out}/" + name + "_draws.npz", **draws)
            res[name] = full.diagnostics(2000, seed=5, warn=False).pareto_k
            bare = pa.load(r"{out}/" + name + "_nodata.npz", model)
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                latent = bare.sample(300, seed=11)
            assert any("theta" in str(x.message) for x in w), "no warning about theta"
            np.savez(r"{out}/" + name + "_latent.npz", **latent)
            try:
                bare.diagnostics(100)
            except ValueError as e:
                assert "without the model's data" in str(e)
            else:
                raise AssertionError("diagnostics without data did not fail")
        print(json.dumps(res))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    khats = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, r in results.items():
        ours = r.sample(300, seed=11)
        with np.load(out / f"{name}_draws.npz") as theirs:
            assert set(theirs.files) == set(ours)
            for k in ours:
                np.testing.assert_array_equal(theirs[k], ours[k])
        with np.load(out / f"{name}_latent.npz") as theirs:
            assert set(theirs.files) == {"mu", "tau", "theta_tilde"}
            for k in theirs.files:
                np.testing.assert_array_equal(theirs[k], ours[k])
        assert khats[name] == r.diagnostics(2000, seed=5, warn=False).pareto_k


def test_load_checks_the_model(saved):
    out, _ = saved
    other = get_model("normal_normal")
    with pytest.raises(ValueError, match="latent sites|parameters"):
        pa.load(out / "AutoNormal_nodata.npz", other.model, *other.args, **other.kwargs)


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, header=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match="not a fit saved by probapprox"):
        pa.load(path, get_model("normal_normal").model)


def test_unknown_guide_cannot_be_saved(tmp_path, saved):
    _, results = saved
    r = results["AutoNormal"]

    class Custom(AutoNormal):
        pass

    r2 = pa.FitResult(model=r.model, guide=Custom(r.model), params=r.params, losses=r.losses)
    with pytest.raises(TypeError, match="get_config"):
        r2.save(tmp_path / "c.npz")
