"""Likelihoods: log densities vs scipy, expectations vs Monte Carlo and quadrature, gradients.

Every likelihood method is jitted; the tests pass (4,)-shaped float64 arrays throughout so the
compiled functions are reused across tests, and do their own arithmetic in numpy.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from jax.test_util import check_grads
from scipy.integrate import quad
from scipy.special import expit, lambertw

from probapprox.gp import (
    Bernoulli,
    Gaussian,
    Likelihood,
    Poisson,
    StudentT,
    make_likelihood,
)
from probapprox.gp._latent_likelihoods import _lambert_w_exp
from probapprox.gp._quadrature import gh_expectation

NUM_MC = 200_000

# (likelihood, y, mean); var = VAR. Moderate variances, where 20-node Gauss–Hermite is
# accurate (for the Student-t that needs scale ≳ sd of f; see the StudentT docstring)
CASES = {
    "gaussian": (Gaussian(variance=0.3), [0.0, 1.2, -2.0, 0.5], [0.3, -0.4, -1.5, 2.0]),
    "logit": (Bernoulli("logit"), [0.0, 1.0, 1.0, 0.0], [0.3, -0.4, 2.5, -3.0]),
    "probit": (Bernoulli("probit"), [0.0, 1.0, 1.0, 0.0], [0.3, -0.4, 2.5, -3.0]),
    "poisson": (Poisson(), [0.0, 1.0, 3.0, 7.0], [0.3, -0.4, 1.0, 2.0]),
    "student_t": (StudentT(df=4.0, scale=1.5), [0.0, 1.2, -2.0, 3.0], [0.3, -0.4, -1.5, 0.5]),
}
VAR = np.array([0.5, 1.0, 0.2, 1.5])
IDS = list(CASES)


def case(name):
    lik, y, mean = CASES[name]
    return lik, np.array(y), np.array(mean), VAR.copy()


def refine(lik, num_points):
    """The same likelihood with another number of quadrature nodes."""
    kwargs = {"link": lik.link} if isinstance(lik, Bernoulli) else lik.params
    return type(lik)(**kwargs, num_points=num_points)


def latent_draws(mean, var, seed=0, *, antithetic=True):
    """f ~ N(mean_i, var_i) in numpy, NUM_MC independent draws per row, shape (rows, NUM_MC).

    With ``antithetic`` the second half of each row mirrors the first (z, -z).
    """
    rng = np.random.default_rng(seed)
    half = NUM_MC // 2 if antithetic else NUM_MC
    z = rng.standard_normal((len(mean), half))
    if antithetic:
        z = np.concatenate([z, -z], axis=1)
    return mean[:, None] + np.sqrt(var)[:, None] * z


def assert_within_mc(value, draws, n_se=3.0, *, antithetic=False):
    """|value - mean(draws)| <= n_se Monte Carlo standard errors, per row.

    For antithetic draws the SE comes from the means of the (z, -z) pairs.
    """
    if antithetic:
        half = draws.shape[-1] // 2
        draws = 0.5 * (draws[:, :half] + draws[:, half:])
    mc = draws.mean(axis=-1)
    se = draws.std(axis=-1, ddof=1) / math.sqrt(draws.shape[-1])
    err = np.abs(np.asarray(value) - mc)
    assert np.all(err <= n_se * se), (err / se, value, mc)


def scipy_log_prob(lik, y, f):
    """The reference log density, from scipy (independent of the code under test)."""
    if isinstance(lik, Gaussian):
        return st.norm.logpdf(y, f, math.sqrt(float(lik.variance)))
    if isinstance(lik, Bernoulli):
        p = st.norm.cdf(f) if lik.link == "probit" else expit(f)
        return np.where(y == 1, np.log(p), np.log1p(-p))
    if isinstance(lik, Poisson):
        return st.poisson.logpmf(y, np.exp(f))
    return st.t.logpdf(y, float(lik.df), f, float(lik.scale))


def quad_expectation(fn, mean, var, points=(0.0,)):
    """Reference E_{N(mean, var)}[fn(f)] by adaptive scipy quadrature (scalar math integrand)."""
    sd = math.sqrt(var)
    lo, hi = mean - 40 * sd, mean + 40 * sd
    pts = [p for p in points if lo < p < hi] or None

    def integrand(f):
        return fn(f) * math.exp(-0.5 * ((f - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))

    return quad(integrand, lo, hi, points=pts, epsabs=0, epsrel=1e-13, limit=1000)[0]


def math_expit(f):
    return 1.0 / (1.0 + math.exp(-f)) if f >= 0 else math.exp(f) / (1.0 + math.exp(f))


def math_poisson_pmf(k, f):
    return math.exp(k * f - math.exp(f) - math.lgamma(k + 1.0)) if f < 700 else 0.0


# ------------------------------------------------------------------------------------------
# log densities
@pytest.mark.parametrize("name", IDS)
def test_log_prob_matches_scipy(name):
    lik, y, mean, _ = case(name)
    f = np.linspace(-3.0, 3.0, 7)[:, None] + mean
    np.testing.assert_allclose(
        lik.log_prob(y, f), scipy_log_prob(lik, y, f), rtol=1e-10, atol=1e-12
    )


def test_bernoulli_log_prob_is_stable_in_the_tails():
    y, f = np.array([1.0, 0.0, 1.0, 1.0]), np.array([-200.0, 200.0, -40.0, 50.0])
    for link in ("logit", "probit"):
        lp = np.asarray(Bernoulli(link).log_prob(y, f))
        assert np.all(np.isfinite(lp)) and np.all(lp[:2] < -100)
    # log Φ(-40) ≈ -804.608 (Mills ratio); a naive log(Φ) would be -inf
    assert float(Bernoulli("probit").log_prob(y, f)[2]) == pytest.approx(-804.608, abs=1e-3)


# ------------------------------------------------------------------------------------------
# expectations vs Monte Carlo (scipy densities, numpy draws)
@pytest.mark.parametrize("name", IDS)
def test_expected_log_prob_vs_monte_carlo(name):
    lik, y, mean, var = case(name)
    draws = scipy_log_prob(lik, y[:, None], latent_draws(mean, var))
    assert_within_mc(lik.expected_log_prob(y, mean, var), draws, antithetic=True)


@pytest.mark.parametrize("name", IDS)
def test_predictive_log_prob_vs_monte_carlo(name):
    lik, y, mean, var = case(name)
    dens = np.exp(scipy_log_prob(lik, y[:, None], latent_draws(mean, var, seed=1)))
    value = np.exp(np.asarray(lik.predictive_log_prob(y, mean, var)))
    assert_within_mc(value, dens, antithetic=True)


@pytest.mark.parametrize("name", IDS)
def test_predict_y_vs_monte_carlo(name):
    """Draw f ~ N(μ, v), then y | f; compare the mean and variance of y within 3 SE."""
    lik, _, mean, var = case(name)
    if isinstance(lik, StudentT):
        lik = StudentT(df=10.0, scale=1.5)  # finite 8th moment: a usable SE for the variance
    f = latent_draws(mean, var, seed=2, antithetic=False)
    rng = np.random.default_rng(3)
    if isinstance(lik, Gaussian):
        y = f + math.sqrt(float(lik.variance)) * rng.standard_normal(f.shape)
    elif isinstance(lik, Bernoulli):
        y = rng.binomial(1, st.norm.cdf(f) if lik.link == "probit" else expit(f)).astype(float)
    elif isinstance(lik, Poisson):
        y = rng.poisson(np.exp(f)).astype(float)
    else:
        y = f + float(lik.scale) * rng.standard_t(float(lik.df), f.shape)
    m, v = lik.predict_y(mean, var)
    assert_within_mc(m, y)
    centred = (y - y.mean(axis=-1, keepdims=True)) ** 2
    assert_within_mc(v, centred * NUM_MC / (NUM_MC - 1))


def test_probit_predictive_is_exact():
    lik, _, _, _ = case("probit")
    y, mean = np.array([1.0, 0.0, 0.0, 1.0]), np.array([0.3, -1.0, 2.0, -0.5])
    var = np.array([0.5, 4.0, 0.01, 1.0])
    p, pv = (np.asarray(a) for a in lik.predict_y(mean, var))
    np.testing.assert_allclose(p, st.norm.cdf(mean / np.sqrt(1 + var)), rtol=1e-13)
    np.testing.assert_allclose(pv, p * (1 - p), rtol=1e-13)
    assert_within_mc(p, st.norm.cdf(latent_draws(mean, var, seed=4)), antithetic=True)
    # the closed-form log predictive = 100-node quadrature of Φ((2y-1)f)
    gh = Likelihood.predictive_log_prob(refine(lik, 100), y, mean, var)
    np.testing.assert_allclose(lik.predictive_log_prob(y, mean, var), gh, rtol=1e-10)


# ------------------------------------------------------------------------------------------
# quadrature accuracy
@pytest.mark.parametrize("name", ["logit", "probit", "poisson", "student_t"])
def test_quadrature_20_vs_100_points(name):
    lik, y, mean, var = case(name)
    fine = refine(lik, 100)
    for method in ("expected_log_prob", "predictive_log_prob"):
        np.testing.assert_allclose(
            getattr(lik, method)(y, mean, var), getattr(fine, method)(y, mean, var), atol=1e-6
        )
    np.testing.assert_allclose(lik.predict_y(mean, var)[0], fine.predict_y(mean, var)[0], atol=1e-6)


@pytest.mark.parametrize("name", ["gaussian", "poisson"])
def test_closed_forms_match_quadrature(name):
    lik, y, mean, var = case(name)
    fine = refine(lik, 60)
    np.testing.assert_allclose(
        lik.expected_log_prob(y, mean, var),
        Likelihood.expected_log_prob(fine, y, mean, var),
        rtol=1e-11,
    )
    if isinstance(lik, Gaussian):  # a Gaussian integrand: quadrature converges, not exact
        np.testing.assert_allclose(
            lik.predictive_log_prob(y, mean, var),
            Likelihood.predictive_log_prob(fine, y, mean, var),
            rtol=1e-8,
        )


@pytest.mark.parametrize(
    ("var", "tol"), [(1.0, 1e-10), (4.0, 1e-5), (25.0, 2.5e-3), (100.0, 2.5e-3)]
)
def test_logit_predictive_accuracy_with_control_variate(var, tol):
    lik = Bernoulli("logit")
    y, means, var = np.array([1.0, 0.0, 1.0, 0.0]), np.array([-4.0, 0.5, 2.0, 6.0]), np.full(4, var)
    p = np.asarray(lik.predict_y(means, var)[0])
    ref = np.array([quad_expectation(math_expit, m, v) for m, v in zip(means, var, strict=True)])
    np.testing.assert_allclose(p, ref, atol=tol)
    if var[0] == 100.0:  # plain 20-node quadrature of σ is 10x worse here
        plain = np.asarray(gh_expectation(jax.nn.sigmoid, means, var))
        assert np.max(np.abs(plain - ref)) > 10 * np.max(np.abs(p - ref))
    lp = np.asarray(lik.predictive_log_prob(y, means, var))
    np.testing.assert_allclose(np.exp(lp), np.where(y == 1, ref, 1 - ref), atol=tol)
    assert float(p[1]) < float(expit(0.5))  # not the plug-in σ(μ): shrunk towards 1/2


def test_logit_predictive_far_tail_is_finite():
    # p = E[σ(f)] ≈ E[e^f] = exp(μ + v/2) underflows for μ = -800: the log-space path takes over
    y, mean, var = np.ones(4), np.array([-800.0, -700.0, -1.0, 0.0]), np.ones(4)
    lp = np.asarray(Bernoulli("logit").predictive_log_prob(y, mean, var))
    np.testing.assert_allclose(lp[:2], mean[:2] + 0.5, atol=1e-6)


def test_poisson_predictive_mode_centred_quadrature():
    y = np.array([7.0, 50.0, 200.0, 0.0, 3.0])
    mean, var = np.array([2.0, 1.0, 0.0, 3.0, -2.0]), np.array([1.5, 2.0, 4.0, 4.0, 9.0])
    ref = [
        math.log(quad_expectation(lambda f, k=k: math_poisson_pmf(k, f), m, v, [math.log(k + 0.5)]))
        for k, m, v in zip(y, mean, var, strict=True)
    ]
    lik = Poisson()
    np.testing.assert_allclose(lik.predictive_log_prob(y, mean, var), ref, atol=1e-5)
    # plain Gauss–Hermite on N(μ, v) misses the narrow peak of large counts
    plain = np.asarray(Likelihood.predictive_log_prob(lik, y, mean, var))
    assert np.all(np.abs(plain - ref)[1:3] > 1.0)


def test_lambert_w_newton():
    L = np.linspace(-60.0, 60.0, 241)
    lambert = jax.jit(_lambert_w_exp)
    np.testing.assert_allclose(lambert(L), lambertw(np.exp(L)).real, rtol=1e-13)
    big = np.array([1e3, 1e8, 1e15])
    w = np.asarray(lambert(big))
    np.testing.assert_allclose(w + np.log(w), big, rtol=4e-15)


# ------------------------------------------------------------------------------------------
# limits and gradients
@pytest.mark.parametrize("name", IDS)
def test_zero_variance_recovers_log_prob(name):
    lik, y, mean, _ = case(name)
    exact = np.asarray(lik.log_prob(y, mean))
    for method in ("expected_log_prob", "predictive_log_prob"):
        fn = getattr(lik, method)
        np.testing.assert_allclose(fn(y, mean, np.zeros(4)), exact, rtol=1e-12)
        np.testing.assert_allclose(fn(y, mean, np.full(4, 1e-10)), exact, rtol=1e-8)


@pytest.mark.parametrize("name", IDS)
def test_check_grads_mean_var_and_params(name):
    lik, y, mean, var = case(name)

    @jax.jit
    def elp(m, v, u):
        return lik.from_unconstrained(u).expected_log_prob(y, m, v)

    u = lik.to_unconstrained()
    assert set(u) == {f"log_{n}" for n in lik.params}
    check_grads(elp, (mean, var, u), order=1, modes=("rev",))
    # finite gradient at v = 0 (the safe square root), not NaN; reuses the compiled pullback
    _, pullback = jax.vjp(elp, mean, np.zeros(4), u)
    for g in jax.tree_util.tree_leaves(pullback(np.ones(4))):
        assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["logit", "poisson"])
def test_check_grads_predictive_log_prob(name):
    """The control-variate (logit) and mode-centred (Poisson) rules differentiate cleanly."""
    lik, y, mean, var = case(name)
    check_grads(jax.jit(lambda m, v: lik.predictive_log_prob(y, m, v)), (mean, var), 1, ("rev",))


def test_learnable_parameters_get_gradients():
    lik, y, mean, var = case("gaussian")
    g = jax.grad(lambda lk: jnp.sum(lk.expected_log_prob(y, mean, var)))(lik)
    # d/dσ² Σ[-½log σ² - ((y-μ)²+v)/(2σ²)] = -n/(2σ²) + S/(2σ⁴)
    s2, s = 0.3, float(np.sum((y - mean) ** 2 + var))
    assert float(g.variance) == pytest.approx(-4 / (2 * s2) + s / (2 * s2**2), rel=1e-12)
    assert jax.tree_util.tree_leaves(Bernoulli()) == []
    assert jax.tree_util.tree_leaves(Poisson()) == []
    back = jax.jit(lambda u: StudentT(3.0, 2.0).from_unconstrained(u))(
        {"log_df": np.log(7.0), "log_scale": 0.0}
    )
    assert isinstance(back, StudentT) and float(back.df) == pytest.approx(7.0, rel=1e-14)
    probit = Bernoulli("probit", num_points=7).from_unconstrained({})
    assert probit.link == "probit" and probit.num_points == 7


# ------------------------------------------------------------------------------------------
# predictive moments in closed form
def test_student_t_predictive_moments_edge_cases():
    mean, var = np.array([1.0, -1.0, 0.0, 2.0]), np.full(4, 0.5)
    m, v = StudentT(df=4.0, scale=2.0).predict_y(mean, var)
    np.testing.assert_allclose(m, mean)
    np.testing.assert_allclose(v, 0.5 + 4.0 * 4.0 / 2.0, rtol=1e-14)
    _, v2 = StudentT(df=2.0).predict_y(mean, var)
    assert np.all(np.asarray(v2) == np.inf)
    m1, _ = StudentT(df=1.0).predict_y(mean, var)
    assert np.all(np.isnan(np.asarray(m1)))


def test_poisson_predictive_moments_formula():
    mean, var = np.array([0.5, -1.0, 2.0, 0.0]), np.array([0.8, 0.1, 1.0, 0.0])
    m, v = (np.asarray(a) for a in Poisson().predict_y(mean, var))
    rate = np.exp(mean + var / 2)
    np.testing.assert_allclose(m, rate, rtol=1e-14)
    np.testing.assert_allclose(v, rate + np.expm1(var) * np.exp(2 * mean + var), rtol=1e-13)


# ------------------------------------------------------------------------------------------
# checks and construction
def test_validate_y():
    np.testing.assert_array_equal(Bernoulli().validate_y([True, False]), [1.0, 0.0])
    out = Poisson().validate_y(np.array([0, 3, 5]))
    assert out.dtype == jnp.float64
    assert Gaussian().validate_y([-1.5, 2.0]).shape == (2,)
    bad = [
        (Gaussian(), [0.0, np.nan], ValueError, r"1 non-finite value\(s\).*index \(1,\)"),
        (StudentT(), [np.inf, 0.0, -np.inf], ValueError, r"2 non-finite value\(s\)"),
        (Bernoulli(), [0, 1, 2], ValueError, r"expects labels in \{0, 1\}; got \[2.0\]"),
        (Bernoulli("probit"), [-1, 1], ValueError, r"\(y \+ 1\) / 2"),
        (Poisson(), [0, -1], ValueError, "expects non-negative counts"),
        (Poisson(), [0, 1.5], ValueError, r"integer counts; got non-integers \[1.5\]"),
        (Gaussian(), ["a", "b"], TypeError, "expects numbers; got dtype"),
    ]
    for lik, y, exc, match in bad:
        with pytest.raises(exc, match=match):
            lik.validate_y(y)
    with pytest.raises(TypeError, match="outside jax.jit"):
        jax.jit(Poisson().validate_y)(jnp.zeros(2))


def test_make_likelihood():
    assert isinstance(make_likelihood("gaussian"), Gaussian)
    assert float(make_likelihood("Gaussian").variance) == 1.0
    assert make_likelihood("bernoulli").link == "logit"
    assert isinstance(make_likelihood("poisson"), Poisson)
    t = make_likelihood("student-t")
    assert isinstance(t, StudentT) and float(t.df) == 4.0 and float(t.scale) == 1.0
    lik = Bernoulli("probit")
    assert make_likelihood(lik) is lik
    with pytest.raises(ValueError, match=r"unknown name 'cauchy'; use one of \['bernoulli'"):
        make_likelihood("cauchy")
    with pytest.raises(TypeError, match="expects a name or a Likelihood; got int"):
        make_likelihood(3)


@pytest.mark.parametrize(
    ("build", "exc", "match"),
    [
        (lambda: Gaussian(variance=0.0), ValueError, r"Gaussian\(variance=\.\.\.\) expects finite"),
        (lambda: Gaussian(variance=[1.0, 2.0]), ValueError, r"Gaussian\(variance=.*positive num"),
        (lambda: StudentT(df=-1.0), ValueError, r"StudentT\(df=\.\.\.\) expects finite"),
        (lambda: StudentT(scale=np.nan), ValueError, r"StudentT\(scale=\.\.\.\) expects finite"),
        (lambda: Bernoulli(link="tanh"), ValueError, r"Bernoulli\(link=\.\.\.\) must be one of"),
        (lambda: Poisson(num_points=0), ValueError, r"Poisson\(num_points=\.\.\.\) expects an int"),
        (lambda: Gaussian().from_unconstrained({}), ValueError, r"expects keys \['log_variance'\]"),
        (lambda: Likelihood(), TypeError, "Likelihood is abstract"),
    ],
)
def test_bad_arguments(build, exc, match):
    with pytest.raises(exc, match=match):
        build()
