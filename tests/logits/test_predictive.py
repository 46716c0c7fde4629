"""predictive(): each method against Monte Carlo or its exact form, limits, jit, shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import expit, ndtr, softmax
from scipy.stats import kstest

from probapprox import logits as pl
from probapprox._random import standard_normal

CONFIGS = [
    ("mc", {"num_samples": 64}),
    ("sigma_points", {"num_points": 64}),
    ("mean_field", {}),
    ("mean_field", {"pairwise": True}),
    ("laplace_bridge", {}),
    ("laplace_bridge", {"correction": "none"}),
    ("laplace_bridge", {"correction": "sum_norm"}),
    ("laplace_bridge", {"correction": "mean_norm"}),
    ("probit", {}),
    ("sigmoid", {}),
    ("log", {}),
    ("dirichlet", {}),
    ("dirichlet", {"link": "sigmoid"}),
]
IDS = [m + "-" + "-".join(map(str, o.values())) for m, o in CONFIGS]


def run(mean, var, method, opts, key=None):
    if method == "mc":
        opts = {"key": jax.random.key(0) if key is None else key, **opts}
    return pl.predictive(mean, var, method, **opts)


def numpy_mc(mu, chol, n, seed):
    """E[softmax(mu + L eps)] and its standard errors, independent of the library."""
    rng = np.random.default_rng(seed)
    z = mu + rng.standard_normal((n, mu.size)) @ chol.T
    p = softmax(z, axis=-1)
    return p.mean(0), p.std(0) / np.sqrt(n)


def numpy_mc_softmax(mu, var, n, seed):
    """E[softmax] for a batch (B, C) of diagonal Gaussians, in chunks of 5 rows."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(0, len(mu), 5):
        eps = rng.standard_normal((n, *mu[i : i + 5].shape), dtype=np.float32)
        z = (mu[i : i + 5] + np.sqrt(var[i : i + 5]) * eps).astype(np.float32)
        out.append(softmax(z, axis=-1).mean(0, dtype=np.float64))
    return np.concatenate(out)


def kl(p, q):
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def test_mc_matches_independent_numpy_mc():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=4) * 2
    a = rng.normal(size=(4, 4))
    cov = a @ a.T / 4 + 0.3 * np.eye(4)
    for cov_or_var, chol in ((cov, np.linalg.cholesky(cov)), (np.diag(cov), np.sqrt(np.diag(cov)))):
        chol = np.diag(chol) if chol.ndim == 1 else chol
        ref, se = numpy_mc(mu, chol, 200_000, seed=1)
        got = pl.predictive(mu, cov_or_var, "mc", key=jax.random.key(3), num_samples=100_000)
        # the library's own error is ~sqrt(2) times the reference's: allow 4 combined s.e.
        assert (np.abs(np.asarray(got) - ref) <= 4 * np.sqrt(3) * se).all()


def test_box_muller_normals_and_antithetic_pairs():
    """The Box–Muller draws are N(0, 1); mc uses μ + Lε and μ − Lε, dropping one for odd S."""
    z = np.asarray(standard_normal(jax.random.key(5), (100_001,), jnp.float64))  # odd count
    assert np.isfinite(z).all() and z.shape == (100_001,)
    assert kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    assert abs(np.corrcoef(z[:50_000], z[50_000:100_000])[0, 1]) < 4 / np.sqrt(50_000)
    mu, var = jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 4.0, 0.5])
    key = jax.random.key(6)
    one, two = (pl.predictive(mu, var, "mc", key=key, num_samples=s) for s in (1, 2))
    minus = 2 * np.asarray(two) - np.asarray(one)  # the antithetic partner of the one draw
    np.testing.assert_allclose(minus.sum(), 1.0, rtol=1e-12)
    assert (minus > 0).all() and not np.allclose(minus, one)


def test_mc_singular_covariance_uses_jitter():
    v = np.array([1.0, -2.0, 0.5])
    cov = np.outer(v, v)  # rank one: plain Cholesky fails
    mu = np.array([0.3, 0.0, -0.2])
    ref, se = numpy_mc(mu, np.column_stack([v, np.zeros((3, 2))]), 200_000, seed=2)
    got = np.asarray(pl.predictive(mu, cov, "mc", key=jax.random.key(4), num_samples=100_000))
    assert np.isfinite(got).all()
    assert (np.abs(got - ref) <= 4 * np.sqrt(3) * se + 1e-6).all()


def test_mean_field_and_bridge_accuracy_against_mc():
    """Mean KL to a 1e5-draw MC reference on random moderate inputs (C = 10)."""
    rng = np.random.default_rng(5)
    res = {}
    for scale in (0.1, 1.0, 10.0):
        mu = 2.0 * rng.normal(size=(20, 10))
        var = scale * np.exp(0.5 * rng.normal(size=(20, 10)))
        ref = numpy_mc_softmax(mu, var, 100_000, seed=6)
        for corr in ("zero_sum", "none", "sum_norm", "mean_norm"):
            p = pl.predictive(mu, var, "laplace_bridge", correction=corr)
            res[corr, scale] = kl(ref, np.asarray(p)).mean()
        res["mf", scale] = kl(ref, np.asarray(pl.predictive(mu, var, "mean_field"))).mean()
        pw = pl.predictive(mu, var, "mean_field", pairwise=True)
        res["pw", scale] = kl(ref, np.asarray(pw)).mean()
    # benchmark (200 points): mean field 4e-4 / 0.018 / 0.079; zero-sum bridge 0.18-0.32
    assert res["mf", 0.1] < 1e-3 and res["mf", 1.0] < 0.03 and res["mf", 10.0] < 0.15
    assert res["pw", 0.1] < 1e-3 and res["pw", 1.0] < 0.03 and res["pw", 10.0] < 0.15
    for scale in (0.1, 1.0, 10.0):
        assert res["zero_sum", scale] < 0.5
    mean_kl = {
        c: np.mean([res[c, s] for s in (0.1, 1.0, 10.0)])
        for c in ("zero_sum", "none", "sum_norm", "mean_norm")
    }
    assert mean_kl["zero_sum"] < 0.3
    # on these synthetic inputs zero_sum is the best correction (the documented table); the
    # default, mean_norm, is chosen from network Gaussians, where it is the best
    assert min(mean_kl, key=mean_kl.get) == "zero_sum"


def test_log_is_normalised_expected_exp():
    rng = np.random.default_rng(7)
    mu, var = rng.normal(size=(3, 4)), rng.uniform(0.1, 1.0, (3, 4))
    z = mu + np.sqrt(var) * rng.standard_normal((200_000, 3, 4))
    ref = np.exp(z).mean(0)
    got = pl.predictive(mu, var, "log")
    np.testing.assert_allclose(got, ref / ref.sum(-1, keepdims=True), rtol=0.02)
    np.testing.assert_allclose(got, softmax(mu + var / 2, axis=-1), rtol=1e-12)


def test_links_are_normalised_expectations():
    rng = np.random.default_rng(11)
    mu, var = rng.normal(size=(3, 4)), rng.uniform(0.1, 3.0, (3, 4))
    phi = ndtr(mu / np.sqrt(1 + var))
    phi /= phi.sum(-1, keepdims=True)
    np.testing.assert_allclose(pl.predictive(mu, var, "probit"), phi, rtol=1e-12)
    sig = expit(mu / np.sqrt(1 + np.pi / 8 * var))
    sig /= sig.sum(-1, keepdims=True)
    np.testing.assert_allclose(pl.predictive(mu, var, "sigmoid"), sig, rtol=1e-12)
    for link in ("probit", "sigmoid"):
        alpha = pl.dirichlet_alpha(mu, var, link=link)
        dirichlet = pl.predictive(mu, var, "dirichlet", link=link)
        np.testing.assert_allclose(dirichlet, alpha / alpha.sum(-1, keepdims=True), rtol=1e-12)
        np.testing.assert_allclose(dirichlet, pl.predictive(mu, var, link), rtol=1e-12)


def test_zero_variance_recovers_plain_activation():
    mu = jnp.array([[2.0, -1.0, 0.5, 0.0], [10.0, -3.0, 4.0, 1.0], [-30.0, 0.0, 30.0, 1.0]])
    zero = jnp.zeros_like(mu)
    plain = softmax(np.asarray(mu), axis=-1)
    mc = ("mc", {"num_samples": 10_000})
    for method, opts in [mc, ("mean_field", {}), ("mean_field", {"pairwise": True})]:
        np.testing.assert_allclose(run(mu, zero, method, opts), plain, rtol=1e-12)
    np.testing.assert_allclose(run(mu, zero, "log", {}), plain, rtol=1e-12)
    phi, sig = ndtr(mu), expit(mu)
    np.testing.assert_allclose(run(mu, zero, "probit", {}), phi / phi.sum(-1, keepdims=True))
    np.testing.assert_allclose(run(mu, zero, "sigmoid", {}), sig / sig.sum(-1, keepdims=True))
    # the Laplace bridge does not: at small variance it stays far from softmax(μ)
    tiny = jnp.full_like(mu, 1e-8)
    bridge = np.asarray(run(mu, tiny, "laplace_bridge", {"correction": "zero_sum"}))
    assert kl(plain, bridge).max() > 0.05
    # and the rescaled default over-sharpens to the argmax (zero probabilities)
    sharp = np.asarray(run(mu, tiny, "laplace_bridge", {}))
    np.testing.assert_allclose(sharp, jax.nn.one_hot(jnp.argmax(mu, -1), 4), atol=1e-12)


def test_bridge_two_classes_is_plug_in():
    """For C = 2 the zero-sum bridge mean is σ(μ₁ − μ₂) whatever the variances."""
    mu = jnp.array([[1.5, -0.5], [0.0, 3.0]])
    var = jnp.array([[0.1, 5.0], [2.0, 2.0]])
    p = pl.predictive(mu, var, "laplace_bridge", correction="zero_sum")
    np.testing.assert_allclose(p[:, 0], expit(mu[:, 0] - mu[:, 1]), rtol=1e-12)


def test_full_covariance_handling():
    rng = np.random.default_rng(8)
    mu = rng.normal(size=(3, 4))
    var = rng.uniform(0.2, 2.0, (3, 4))
    cov = jax.vmap(jnp.diag)(var) + 0.3 * (1 - jnp.eye(4))  # correlated
    for method in ("mean_field", "probit", "sigmoid", "log", "dirichlet"):
        np.testing.assert_allclose(pl.predictive(mu, cov, method), pl.predictive(mu, var, method))
    # a shared component c·11ᵀ does not change softmax(z): the methods that read the
    # off-diagonal must ignore it exactly, the diagonal-only ones do not
    shared = jax.vmap(jnp.diag)(var) + 10.0
    for method, opts in [
        ("mean_field", {"pairwise": True}),
        ("laplace_bridge", {"correction": "zero_sum"}),
    ]:
        with_shared = pl.predictive(mu, shared, method, **opts)
        np.testing.assert_allclose(with_shared, pl.predictive(mu, var, method, **opts))
    assert not np.allclose(pl.predictive(mu, shared, "mean_field"), pl.predictive(mu, var))
    key = jax.random.key(9)
    mc_shared = pl.predictive(mu, shared, "mc", key=key, num_samples=10_000)
    mc_plain = pl.predictive(mu, var, "mc", key=key, num_samples=10_000)
    np.testing.assert_allclose(mc_shared, mc_plain, atol=0.03)  # ≈ 4 s.e. of a difference


@pytest.mark.parametrize(("method", "opts"), CONFIGS, ids=IDS)
def test_probability_vectors_batch_and_extremes(method, opts):
    rng = np.random.default_rng(10)
    mu = rng.normal(size=(2, 3, 4)) * 3
    var = rng.uniform(0.01, 5.0, (2, 3, 4))
    mu[0, 0] = [1e3, -1e3, 0.0, 1e3]
    mu[0, 1] = [-1e3, -1e3, -1e3, 5.0]
    var[0, 0] = [1e6, 1.0, 1e6, 1e-12]
    var[0, 1] = [1e-12, 1e6, 1.0, 1e6]
    if method not in ("laplace_bridge",):
        var[0, 2] = 0.0
    p = np.asarray(run(mu, var, method, opts))
    assert p.shape == (2, 3, 4)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    if method != "mc":  # batching is elementwise over the leading axes (mc: other draws)
        np.testing.assert_allclose(run(mu[1], var[1], method, opts), p[1], rtol=1e-10)
    # under an outer jit (value checks skipped, key traced) the result is the same; the
    # other configurations share these code paths
    if (method, opts) in [CONFIGS[i] for i in (0, 1, 3, 4, 12)]:
        jitted = jax.jit(lambda m, v: run(m, v, method, opts))(mu, var)
        np.testing.assert_allclose(jitted, p, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    ("method", "opts"),
    [
        ("probit", {}),
        ("sigmoid", {}),
        ("log", {}),
        ("mean_field", {}),
        ("mean_field", {"pairwise": True}),
    ],
)
def test_grads(method, opts):
    mu = jnp.array([0.5, -1.0, 1.5])
    var = jnp.array([0.3, 1.2, 0.7])
    check_grads(lambda m, v: pl.predictive(m, v, method, **opts), (mu, var), order=1)


def test_value_checks_are_skipped_under_jit():
    f = jax.jit(lambda m, v: pl.predictive(m, v, "probit"))
    assert f(jnp.zeros(3), -jnp.ones(3)).shape == (3,)  # eager would raise


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "softmax"}, "method"),
        ({"method": "probit", "pairwise": True}, "pairwise"),
        ({"method": "mean_field", "pairwise": 1}, "pairwise"),
        ({"method": "mc"}, "key"),
        ({"method": "mc", "key": jax.random.key(0), "num_samples": 0}, "num_samples"),
        ({"method": "sigma_points", "num_points": 0}, "num_points"),
        ({"method": "sigma_points", "key": 1}, "key"),
        ({"method": "dirichlet", "link": "logit"}, "link"),
        ({"method": "laplace_bridge", "correction": "norm"}, "correction"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pl.predictive(jnp.zeros(3), jnp.ones(3), **kwargs)


@pytest.mark.parametrize(
    ("mean", "cov_or_var", "match"),
    [
        (np.zeros(3), np.ones(4), "cov_or_var"),
        (np.zeros(3), np.ones((3, 4)), "cov_or_var"),
        (np.zeros((2, 3)), np.ones(3), "cov_or_var"),
        (np.zeros(1), np.ones(1), "mean"),
        (np.array([0.0, np.nan, 1.0]), np.ones(3), "mean"),
        (np.zeros(3), np.array([1.0, np.inf, 1.0]), "cov_or_var"),
        (np.zeros(3), np.array([1.0, -0.1, 1.0]), "cov_or_var"),
        ([0.0, 1.0], np.ones(2), "mean"),
    ],
)
def test_bad_inputs(mean, cov_or_var, match):
    with pytest.raises(ValueError, match=match):
        pl.predictive(mean, cov_or_var, "mean_field")


def test_bridge_needs_positive_variance():
    with pytest.raises(ValueError, match="cov_or_var"):
        pl.predictive(jnp.zeros(3), jnp.array([1.0, 0.0, 1.0]), "laplace_bridge")
    with pytest.raises(ValueError, match="cov_or_var"):
        pl.laplace_bridge_alpha(jnp.zeros(3), jnp.zeros(3))


def test_float32_inputs_stay_float32_and_finite():
    rng = np.random.default_rng(12)
    mu = (rng.normal(size=(3, 4)) * 3).astype(np.float32)
    var = rng.uniform(0.01, 5.0, (3, 4)).astype(np.float32)
    mu[0], var[0] = [1e3, -1e3, 0.0, 1e3], [1e6, 1.0, 1e6, 1e-12]
    for method, opts in CONFIGS:
        p = run(mu, var, method, opts)
        assert p.dtype == jnp.float32
        p = np.asarray(p)
        assert np.isfinite(p).all() and (p >= 0).all()
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    # a float32 closed form agrees with the float64 one
    np.testing.assert_allclose(
        run(mu[1:], var[1:], "dirichlet", {}),
        run(mu[1:].astype(float), var[1:].astype(float), "dirichlet", {}),
        rtol=1e-5,
    )
