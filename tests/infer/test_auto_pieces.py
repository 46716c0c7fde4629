"""The pieces of the auto ladder against exact answers: the KL estimate, the flow start, the
per-mode Laplace stack."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.infer.autoguide import AutoMultivariateNormal

from probapprox.guides import AutoNormalizingFlow
from probapprox.infer._auto import GAP_TOL, judge
from probapprox.infer._auto_rungs import ONE_MODE_FLOW, flow_init, mode_stack
from probapprox.infer._result import FitResult
from probapprox.potential import dispersed_starts, find_modes, model_potential


def std_normal_2d():
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]).to_event(1))


def _params(guide, model):
    with handlers.seed(rng_seed=0):
        tr = handlers.trace(guide).get_trace()
    del model
    return {k: v["value"] for k, v in tr.items() if v["type"] == "param"}


def _mvn_result(model, loc, tril):
    guide = AutoMultivariateNormal(model)
    params = _params(guide, model)
    params.update(auto_loc=jnp.asarray(loc), auto_scale_tril=jnp.asarray(tril))
    return FitResult(model=model, guide=guide, params=params, losses=np.zeros(1))


def test_judge_estimates_the_closed_form_kl():
    # q = N(m, diag(s^2)), p = N(0, I): KL = sum(-log s + (s^2 + m^2) / 2 - 1/2)
    m, s = np.array([0.5, -0.3]), np.array([1.2, 0.9])
    res = _mvn_result(std_normal_2d, m, np.diag(s))
    d, gap, gap_se, draws = judge(res, 40_000, seed=3)
    kl = float(np.sum(-np.log(s) + (s**2 + m**2) / 2 - 0.5))
    assert abs(-d.elbo - kl) < 4 * d.elbo_se + 1e-3  # log Z = 0
    assert abs(gap - kl) < 0.02, (gap, kl)
    assert 0 < gap_se < 0.02 and abs(gap - kl) < 4 * gap_se, (gap, kl, gap_se)
    assert draws.latent["x"].shape == (40_000, 2)
    exact = _mvn_result(std_normal_2d, np.zeros(2), np.eye(2))
    assert judge(exact, 1000, seed=3)[1] < 1e-12 < GAP_TOL


@pytest.mark.parametrize("flow", ["spline", ONE_MODE_FLOW])
def test_flow_init_is_exactly_the_gaussian(flow):
    guide = AutoNormalizingFlow(std_normal_2d, flow=flow, num_layers=2)
    params = _params(guide, std_normal_2d)
    loc, tril = np.array([1.0, -2.0]), np.array([[1.5, 0.0], [0.4, 0.3]])
    params.update(flow_init({"loc": loc, "scale_tril": tril}))
    x = np.random.default_rng(0).standard_normal((7, 2)) * 2
    np.testing.assert_allclose(
        guide.get_posterior(params).log_prob(x),
        dist.MultivariateNormal(loc, scale_tril=tril).log_prob(x),
        rtol=1e-12,
        atol=1e-12,
    )
    assert flow_init(None) is None


LOCS = np.array([[-4.0, 0.0], [4.0, 1.0]])
COVS = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.5, -0.2], [-0.2, 2.0]]])
WEIGHTS = np.array([0.3, 0.7])


def two_gaussians():
    x = numpyro.sample("x", dist.ImproperUniform(dist.constraints.real_vector, (), (2,)))
    comps = dist.MultivariateNormal(jnp.asarray(LOCS), covariance_matrix=jnp.asarray(COVS))
    numpyro.factor("p", jax.scipy.special.logsumexp(jnp.log(WEIGHTS) + comps.log_prob(x)))


def test_mode_stack_recovers_a_full_covariance_mixture():
    mp = model_potential(two_gaussians, (), {})
    search = find_modes(mp.potential, dispersed_starts(mp, 32, 0))
    assert len(search.modes) == 2
    base = _mvn_result(two_gaussians, np.zeros(2), np.eye(2))
    res = mode_stack(base, search, num_draws=20_000, seed=1)
    order = np.argsort([float(p["auto_loc"][0]) for p in res.stack.params])  # left mode first
    np.testing.assert_allclose(np.asarray(res.stack.weights)[order], WEIGHTS, atol=0.01)
    d, gap, _, _ = judge(res, 20_000, seed=2)
    assert abs(d.elbo) < 1e-3 and gap < 1e-3  # q = p up to the modes' overlap (~1e-6)
    assert d.pareto_k < 0.5


def test_a_richer_rung_with_a_higher_elbo_uncertifies_a_cheaper_one():
    """ELBO_j - ELBO_i = KL_i - KL_j: a certified Gaussian beaten by a flow is not chosen as
    certified; the flow (k̂ too high to certify) is returned with the warning."""
    import types
    import warnings

    from probapprox.diagnostics import ApproximationWarning
    from probapprox.infer._auto_judge import choose
    from probapprox.infer._auto_report import ladder_row

    def rows(richer_elbo, richer_se):
        return [
            ladder_row("gaussian", "G", elbo=-0.56, elbo_se=0.005, khat=0.68, certified=True),
            ladder_row("flow", "F", elbo=richer_elbo, elbo_se=richer_se, khat=1.0),
        ]

    search = types.SimpleNamespace(modes=[])
    fits = [types.SimpleNamespace(info={}) for _ in range(2)]
    with pytest.warns(ApproximationWarning, match="no family was certified"):
        out = choose(rows(-0.03, 0.001), fits, search, 1.0)
    assert out is fits[1] and out.info["auto_family"] == "flow"
    ladder = out.info["auto"]
    assert ladder[0]["verdict"] == "not certified: flow has a higher ELBO"
    assert not ladder[0]["certified"]
    # within two combined standard errors the cheaper rung stays certified and is chosen
    fits = [types.SimpleNamespace(info={}) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = choose(rows(-0.03, 0.3), fits, search, 1.0)
    assert out is fits[0] and out.info["auto"][0]["certified"]


def correlated_2d():
    # p(x) = N(mu, S) with S = [[1, 0.6], [0.6, 0.5]]; log Z = 0, exact Laplace
    mu = jnp.array([1.0, -2.0])
    numpyro.sample("x", dist.MultivariateNormal(mu, jnp.array([[1.0, 0.6], [0.6, 0.5]])))


def test_laplace_rung_reads_the_search_and_shares_its_sampler_with_the_gaussian():
    from probapprox.infer._auto_judge import same_gaussian
    from probapprox.infer._auto_laplace import laplace_result

    mp = model_potential(correlated_2d, (), {})
    search = find_modes(mp.potential, dispersed_starts(mp, 8, 0), dense_max=200)
    res = laplace_result(correlated_2d, (), {}, search, seed=0, dense_max=200)
    cov = np.array([[1.0, 0.6], [0.6, 0.5]])
    np.testing.assert_allclose(res.params["auto_loc"], [1.0, -2.0], atol=1e-8)
    scale = np.asarray(res.params["auto_scale_tril"])
    np.testing.assert_allclose(scale @ scale.T, cov, atol=1e-8)
    assert type(res.guide).__name__ == "AutoLaplace" and same_gaussian(res)
    d, gap, _, _ = judge(res, 2000, seed=1)
    assert abs(d.elbo) < 1e-8 and gap < 1e-8  # exact: KL = 0
    # the Laplace rung's compiled sampler judges an AutoMultivariateNormal fit exactly as its own
    mvn = _mvn_result(correlated_2d, [0.5, -1.0], np.linalg.cholesky(0.5 * cov))
    assert same_gaussian(mvn)
    own = judge(mvn, 500, seed=4)
    reused = judge(mvn, 500, seed=4, sampler=res._sampler[False])
    np.testing.assert_allclose(reused[3].log_q, own[3].log_q, rtol=1e-12)
    np.testing.assert_allclose(reused[3].latent["x"], own[3].latent["x"], rtol=1e-12)
    assert reused[0].elbo == pytest.approx(own[0].elbo, rel=1e-12)
    assert not same_gaussian(_flow_result())


def _flow_result():
    guide = AutoNormalizingFlow(std_normal_2d, flow="maf", num_layers=1)
    return FitResult(
        model=std_normal_2d, guide=guide, params=_params(guide, std_normal_2d), losses=np.zeros(1)
    )


def test_mixture_rung_has_at_least_ten_components_spread_over_the_modes():
    from probapprox.infer._auto_rungs import _mixture_init, num_mixture_components
    from probapprox.potential import Mode, ModeSearch

    assert [num_mixture_components(d) for d in (1, 2, 3, 4, 100)] == [32, 20, 13, 10, 10]

    def mode(x, log_mass):
        loc = np.array([x, 0.0])
        return Mode(loc, 0.0, (np.ones(2), np.eye(2)), 0.5 * np.eye(2), log_mass, 0)

    modes = [mode(-4.0, np.log(0.2)), mode(0.0, np.log(0.3)), mode(4.0, np.log(0.5))]
    search = ModeSearch(
        modes, np.zeros((3, 2)), np.zeros(3), np.ones(3, bool), np.zeros((3, 2)), True
    )
    n, p = _mixture_init(search, seed=0, dim=2)
    assert n == 21 and p["auto_means"].shape == (21, 2)  # 2-D: ceil(20 / 3) = 7 per mode
    for k, m in enumerate(modes):  # one component at the mode, six at one sd (0.5)
        block = p["auto_means"][7 * k : 7 * k + 7]
        np.testing.assert_allclose(block[0], m.loc)
        np.testing.assert_allclose(np.linalg.norm(block[1:] - m.loc, axis=1), 0.5)
    np.testing.assert_allclose(p["auto_variances"], 0.25)
    w = np.exp(p["auto_logits"]) / np.exp(p["auto_logits"]).sum()
    np.testing.assert_allclose(w.reshape(3, 7).sum(1), [0.2, 0.3, 0.5])
    one = ModeSearch(
        modes[:1], np.zeros((1, 2)), np.zeros(1), np.ones(1, bool), np.zeros((1, 2)), True
    )
    assert _mixture_init(one, seed=0, dim=2)[0] == 20
    assert _mixture_init(one, seed=0, dim=8)[0] == 10
