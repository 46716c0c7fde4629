"""``pa.fit(model, "auto")``: the ladder, certification, bad input and the acceptance targets."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import probapprox as pa
from probapprox.guides import make_guide
from probapprox.infer._auto_report import format_ladder
from probapprox.models import get_model

QUADRANTS = [(1, 1), (-1, 1), (-1, -1), (1, -1)]  # the bundled models' mode order


def _auto(bm, **kw):
    return pa.fit(bm.model, "auto", *bm.args, progress=False, **bm.kwargs, **kw)


def _kl(bm, result, n=20_000):
    d = result.diagnostics(n, seed=11, warn=False)
    return bm.reference.log_Z - d.elbo, d


def discrete_model():
    k = numpyro.sample("k", dist.Categorical(jnp.ones(3) / 3))
    numpyro.sample("y", dist.Normal(k, 1.0), obs=1.0)


def no_latent_model():
    numpyro.sample("y", dist.Normal(0.0, 1.0), obs=1.0)


def impossible_model():
    m = numpyro.sample("m", dist.Normal(0.0, 1.0))
    numpyro.factor("constraint", jnp.where(m > 1e6, 0.0, jnp.nan))


def test_bad_input_names_the_site_or_option():
    with pytest.raises(ValueError, match="'k' is discrete"):
        pa.fit(discrete_model, "auto", progress=False)
    with pytest.raises(ValueError, match="no latent sample site"):
        pa.fit(no_latent_model, "auto", progress=False)
    with pytest.raises(ValueError, match="site 'constraint'"):
        pa.fit(impossible_model, "auto", progress=False)
    bm = get_model("normal_normal")
    with pytest.raises(ValueError, match="max_rung=7"):
        _auto(bm, max_rung=7)
    with pytest.raises(ValueError, match="time_budget=0"):
        _auto(bm, time_budget=0)
    with pytest.raises(ValueError, match="optimizer="):
        pa.fit(bm.model, "auto", *bm.args, optimizer=object(), **bm.kwargs)
    for option in ({"num_starts": 2}, {"multi_start": "stack"}, {"mesh": object()}):
        name = next(iter(option))
        with pytest.raises(ValueError, match=f"does not take {name}"):
            pa.fit(bm.model, "auto", *bm.args, **option, **bm.kwargs)
    with pytest.raises(ValueError, match="'auto' is not a guide class"):
        make_guide("auto", bm.model)


def test_conjugate_stops_at_laplace_and_behaves_like_any_fit(tmp_path):
    bm = get_model("normal_normal")
    r = _auto(bm)
    ladder = r.info["auto"]
    assert [row["family"] for row in ladder] == ["laplace", "gaussian", "modes", "mixture", "flow"]
    assert r.info["auto_family"] == "laplace" and ladder[0]["certified"]
    assert "stop" in ladder[0]["verdict"] and ladder[1]["verdict"] == "not needed"
    kl, d = _kl(bm, r)
    assert abs(kl) < 1e-3 and d.pareto_k < 0.5
    text = str(d)
    assert "auto ladder" in text and "laplace (AutoLaplace)" in text
    assert format_ladder(ladder) in text
    x = r.sample(20_000, seed=3)["mu"]
    np.testing.assert_allclose(
        x.mean(), bm.reference.mean["mu"], atol=4 * bm.reference.sd["mu"] / 140
    )
    r.save(tmp_path / "fit.npz")
    back = pa.load(tmp_path / "fit.npz", bm.model)
    np.testing.assert_array_equal(back.sample(100, seed=4)["mu"], r.sample(100, seed=4)["mu"])
    assert format_ladder(back.info["auto"]) == format_ladder(ladder)  # NaN != NaN in dicts
    assert r.to_arviz(200).posterior["mu"].shape == (1, 200)


def test_max_rung_caps_and_an_uncertified_ladder_warns():
    bm = get_model("four_modes")
    with pytest.warns(pa.ApproximationWarning, match="no family was certified"):
        r = _auto(bm, max_rung="gaussian", time_budget=1e-6)  # the first rung always runs
    rows = r.info["auto"]
    assert r.info["auto_modes"] == 4 and r.info["auto_family"] == "laplace"
    assert not rows[0]["certified"] and rows[0]["khat"] > 0.7
    assert rows[1]["verdict"].startswith("skipped: time_budget")
    assert all(row["verdict"].startswith("skipped: max_rung=2") for row in rows[2:])


def _masses(x):
    return np.array(
        [np.mean((np.sign(x[:, 0]) == a) & (np.sign(x[:, 1]) == b)) for a, b in QUADRANTS]
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["four_modes", "four_modes_unequal"])
def test_four_modes(name):
    bm = get_model(name)
    r = _auto(bm)
    kl, _ = _kl(bm, r)
    assert kl <= 0.01
    weights = np.asarray(bm.kwargs.get("weights", np.full(4, 0.25)))
    np.testing.assert_allclose(_masses(r.sample(50_000, seed=1)["x"]), weights, atol=0.02)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "bound"),
    [
        # measured KL 0.005 (seeds 0, 1: mixture rung, 20 components in 2-D; 0.056 with 10)
        ("rezende_u1", 0.02),
        ("mog10d", 0.05),
        ("banana", 0.05),  # measured KL 0.021 (affine MAF flow rung, bench_auto.md)
        # funnel: KL 0.16 with the MAF in a pseudo-random order; 0.051 in the model's order
        # (bench_auto.md)
        ("funnel", 0.1),
    ],
)
def test_kl_targets(name, bound):
    bm = get_model(name)
    with warnings.catch_warnings():  # banana, funnel: the flow's k̂ is ≥ 0.7, honestly warned
        warnings.simplefilter("ignore", pa.ApproximationWarning)
        r = _auto(bm)
    kl, _ = _kl(bm, r)
    assert kl <= bound, (kl, format_ladder(r.info["auto"]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["normal_normal", "linear_regression"])
def test_gaussian_posteriors_stop_early(name):
    bm = get_model(name)
    r = _auto(bm)
    kl, _ = _kl(bm, r)
    assert kl < 1e-3
    assert r.info["auto_family"] in ("laplace", "gaussian")


@pytest.mark.slow
def test_a_skewed_one_mode_posterior_is_polished_by_the_mixture():
    """Beta posterior on the logit scale: Laplace KL 0.0066 (below GAP_TOL, far above its
    noise), so the mixture rung runs; the isotropic mixture reaches KL ~1e-5 (bench_auto)."""
    bm = get_model("beta_bernoulli")
    r = _auto(bm)
    kl, _ = _kl(bm, r)
    ladder = {row["family"]: row for row in r.info["auto"]}
    assert "the mixture rung polishes" in ladder["laplace"]["verdict"]
    assert ladder["flow"]["verdict"] == "not needed"
    assert r.info["auto_family"] == "mixture" and kl < 1e-3, format_ladder(r.info["auto"])


def test_polish_only_above_the_noise_with_one_round_mode():
    from types import SimpleNamespace

    from probapprox.infer._auto_judge import GAP_FLOOR, polishes

    def search(*covs):
        return SimpleNamespace(modes=[SimpleNamespace(cov=np.asarray(c)) for c in covs])

    one, two = search(np.eye(2)), search(np.eye(2), np.eye(2))
    assert polishes("laplace", 0.0066, 0.0005, one) and polishes("gaussian", 0.01, 0.001, one)
    assert not polishes("laplace", 0.0066, 0.003, one)  # within three standard errors of 0
    assert not polishes("laplace", 0.9 * GAP_FLOOR, 1e-6, one)
    assert not polishes("laplace", 0.0066, 0.0005, two)
    assert not polishes("mixture", 0.0066, 0.0005, one)
    # isotropic components cannot follow a mode 10x longer one way than the other
    assert not polishes("laplace", 0.0066, 0.0005, search(np.diag([1.0, 100.0])))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "eight_schools",
        # centred: worst mean / sd error 0.031 sd / 6.4 % (was 0.24 / 42 %, bench_auto.md); the
        # flow rung's k̂ is 0.66-0.74 (10^4 draws), near the 0.7 bound
        "eight_schools_centred",
    ],
)
def test_eight_schools_moments(name):
    from probapprox.models.eight_schools import CENTRED, nuts_reference

    bm = CENTRED if name == "eight_schools_centred" else get_model(name)
    ref = nuts_reference(name)
    assert ref is not None, "run benchmarks/eight_schools_nuts.py"
    with warnings.catch_warnings():  # the acceptance is the moments; k̂ is reported honestly
        warnings.simplefilter("ignore", pa.ApproximationWarning)
        draws = _auto(bm).sample(20_000, seed=5)
    for site, mean in ref.mean.items():
        x = np.asarray(draws[site])
        np.testing.assert_array_less(np.abs(x.mean(0) - mean), 0.1 * ref.sd[site] + 1e-12)
        np.testing.assert_allclose(x.std(0), ref.sd[site], rtol=0.2)


def test_missed_modes_sees_what_psis_cannot():
    from numpyro.distributions import constraints

    from probapprox.infer._auto_rungs import missed_modes
    from probapprox.potential import find_modes

    locs, w = np.array([[-6.0, 0.0], [6.0, 0.0]]), np.array([0.3, 0.7])

    def u(z):
        comp = -0.5 * jnp.sum((z - locs) ** 2, -1)
        return -jax.scipy.special.logsumexp(jnp.log(w) + comp)

    search = find_modes(u, np.array([[-5.0, 1.0], [5.0, -1.0], [7.0, 0.5]]))
    assert len(search.modes) == 2
    rng = np.random.default_rng(0)
    one = {"x": locs[1] + rng.standard_normal((1000, 2))}
    both = {"x": np.concatenate([locs[0] + rng.standard_normal((300, 2)), one["x"][:700]])}
    sup = {"x": constraints.real_vector}
    assert missed_modes(one, sup, search) == 1
    assert missed_modes(both, sup, search) == 0
