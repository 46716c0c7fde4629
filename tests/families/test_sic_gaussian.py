"""SIC Gaussian family against dense Gaussians, on brute-force patterns (no ordering module)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.stats import multivariate_normal

import probapprox.linalg as pl
from probapprox.families import sic_gaussian as sic
from tests.linalg.sic_reference import matern32, maximin, pad_rows, rho_sets


def closure(sets):
    """True ancestor sets of the DAG with parents S_j \\ {j}."""
    anc = []
    for j, s in enumerate(sets):
        anc.append({j}.union(*(anc[i] for i in s if i < j)))
    return anc


def make_problem(n, rho, seed=0):
    X = np.random.default_rng(seed).uniform(size=(n, 2))
    order, ell = maximin(X)
    X = X[order]
    if rho is None:
        s_sets = [set(range(j + 1)) for j in range(n)]
        a_sets = s_sets
    else:
        s_sets, a_sets = rho_sets(X, ell, rho)
    idx = pad_rows(s_sets)
    kern = lambda a, b: matern32(a, b, 0.25)  # noqa: E731
    u_vals = jax.jit(pl.kl_optimal_columns, static_argnums=0)(kern, X, idx, 1e-3)
    return X, idx, u_vals, s_sets, a_sets


def perturbed(u_vals, idx, seed):
    """Random q near the prior: V = U + noise on the pattern, random mean."""
    rng = np.random.default_rng(seed)
    params = sic.init_from_prior(u_vals, idx)
    off = params.offdiag + 0.3 * rng.normal(size=idx.shape) * (idx >= 0)
    log_diag = params.log_diag + 0.3 * rng.normal(size=idx.shape[0])
    nu = rng.normal(size=idx.shape[0])
    return sic.SICParams(jnp.asarray(nu), jnp.asarray(off), jnp.asarray(log_diag))


def dense(params, u_vals, idx):
    n = idx.shape[0]
    V = np.asarray(pl.to_dense(sic.factor_values(params, idx), idx, n))
    U = np.asarray(pl.to_dense(u_vals, idx, n))
    return V, U


def dense_kl(params, V, U, mu):
    n = V.shape[0]
    vinv_u = np.linalg.solve(V, U)
    dev = U.T @ (np.asarray(params.nu) - mu)
    logdet = np.sum(np.log(np.diag(V))) - np.sum(np.log(np.diag(U)))
    return 0.5 * (np.sum(vinv_u**2) + dev @ dev - n) + logdet


def terms_fn(u_vals, idx, anc):
    cols = jnp.arange(idx.shape[0])
    return jax.jit(lambda p, mu: sic.column_terms(p, u_vals, idx, anc, cols, mu))


def check_exact(n, rho, *, also_kl_and_marginals):
    _, idx, u_vals, s_sets, _ = make_problem(n, rho)
    anc = pad_rows(closure(s_sets))
    params = perturbed(u_vals, idx, seed=1)
    mu = np.linspace(-0.5, 0.5, n)
    V, U = dense(params, u_vals, idx)
    ref = dense_kl(params, V, U, mu)
    terms = terms_fn(u_vals, idx, anc)
    out = terms(params, mu)
    np.testing.assert_allclose(out.kl.sum(), ref, rtol=1e-9)
    np.testing.assert_allclose(out.mean, params.nu, rtol=0)
    cov = np.linalg.inv(V @ V.T)
    np.testing.assert_allclose(out.var, np.diag(cov), rtol=1e-9)
    # at the prior initialisation (nu = mu = 0, V = U) every KL term vanishes
    init = terms(sic.init_from_prior(u_vals, idx), np.zeros(n))
    np.testing.assert_allclose(init.kl, 0.0, atol=1e-10)
    if also_kl_and_marginals:
        kl_all = jax.jit(lambda p: sic.kl(p, u_vals, idx, anc, mu, batch_size=n // 4))(params)
        np.testing.assert_allclose(kl_all, ref, rtol=1e-9)
        mean, var = sic.marginals(params, idx, anc)
        np.testing.assert_allclose(var, np.diag(cov), rtol=1e-9)


def test_column_terms_exact_dense_pattern():
    check_exact(20, None, also_kl_and_marginals=True)


def test_column_terms_exact_with_ancestor_closure():
    check_exact(30, 1.5, also_kl_and_marginals=False)


def test_reduced_ancestors_is_an_approximation():
    """rho-ball A_j: not exact, but close (measured: 2.8% KL, 26% worst variance here)."""
    _, idx, u_vals, s_sets, a_sets = make_problem(60, 1.5, seed=3)
    anc = pad_rows(a_sets)
    full = closure(s_sets)
    assert any(not c <= a for a, c in zip(a_sets, full, strict=True))  # misses true ancestors
    params = perturbed(u_vals, idx, seed=4)
    V, U = dense(params, u_vals, idx)
    out = terms_fn(u_vals, idx, anc)(params, 0.0)
    ref = dense_kl(params, V, U, 0.0)
    kl_err = abs(float(out.kl.sum()) - ref) / abs(ref)
    var_ref = np.diag(np.linalg.inv(V @ V.T))
    var_err = float(np.max(np.abs(out.var - var_ref) / var_ref))
    assert 0.0 < kl_err < 0.1 and 0.0 < var_err < 1.0


def _grad_setup():
    _, idx, u_vals, s_sets, a_sets = make_problem(12, 2.0, seed=5)
    anc = pad_rows(a_sets)
    params = perturbed(u_vals, idx, seed=6)
    cols = jnp.array([0, 4, 11, 7])

    @jax.jit
    def f(nu, off, log_diag):
        out = sic.column_terms(sic.SICParams(nu, off, log_diag), u_vals[cols], idx, anc, cols)
        return jnp.concatenate([out.var, out.kl])

    return f, tuple(params)


def test_column_terms_grads():
    f, args = _grad_setup()
    check_grads(f, args, order=1, modes=["rev"])  # the local solve is reverse-mode only


@pytest.mark.slow
def test_column_terms_second_order_grads():
    f, args = _grad_setup()
    check_grads(f, args, order=2, modes=["rev"])


def test_sampling_against_dense(key):
    _, idx, u_vals, _, _ = make_problem(10, 2.0, seed=7)
    params = perturbed(u_vals, idx, seed=8)
    V, _ = dense(params, u_vals, idx)
    cov = np.linalg.inv(V @ V.T)
    num = 100_000
    f = np.asarray(jax.jit(lambda k: sic.sample(params, idx, k, num))(key))
    assert f.shape == (num, 10)
    eps = np.asarray(jax.random.normal(key, (num, 10)))
    ref = np.asarray(params.nu) + np.linalg.solve(V.T, eps.T).T  # same-key draws, densely
    np.testing.assert_allclose(f, ref, rtol=1e-10, atol=1e-10)
    sd = np.sqrt(np.diag(cov))
    # 4 standard errors: deterministic seed, 10 means and 55 covariances
    assert np.all(np.abs(f.mean(0) - params.nu) < 4 * sd / np.sqrt(num))
    se_cov = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / num)
    assert np.all(np.abs(np.cov(f.T) - cov) < 4 * se_cov)


def test_log_prob_and_entropy():
    _, idx, u_vals, _, _ = make_problem(15, 2.0, seed=9)
    params = perturbed(u_vals, idx, seed=10)
    V, _ = dense(params, u_vals, idx)
    cov = np.linalg.inv(V @ V.T)
    f = np.random.default_rng(11).normal(size=(2, 3, 15))
    ref = multivariate_normal(np.asarray(params.nu), cov).logpdf(f)
    np.testing.assert_allclose(sic.log_prob(params, idx, f), ref, rtol=1e-10)
    np.testing.assert_allclose(sic.log_prob(params, idx, f[0, 0]), ref[0, 0], rtol=1e-10)
    ent = multivariate_normal(np.asarray(params.nu), cov).entropy()
    np.testing.assert_allclose(sic.entropy(params), ent, rtol=1e-10)


def test_floor_is_an_argument():
    _, idx, u_vals, _, _ = make_problem(8, None)
    params = sic.init_from_prior(u_vals, idx, floor=0.5)
    np.testing.assert_allclose(sic.factor_values(params, idx, floor=0.5), u_vals, rtol=1e-12)
    v = sic.factor_values(params, idx)  # default 1e-4 floor: a different diagonal
    assert not np.allclose(v[:, -1], u_vals[:, -1])


def test_bad_inputs(key):
    _, idx, u_vals, s_sets, _ = make_problem(8, None)
    params = sic.init_from_prior(u_vals, idx)
    anc = idx
    cols = jnp.arange(8)
    with pytest.raises(ValueError, match=r"params.offdiag must have shape \(8, 8\)"):
        sic.kl(params._replace(offdiag=params.offdiag[:, 1:]), u_vals, idx, anc)
    with pytest.raises(ValueError, match=r"params.nu must have shape \(8,\)"):
        sic.sample(params._replace(nu=params.nu[:-1]), idx, key, 3)
    bad = idx.copy()
    bad[2, -2:] = bad[2, -2:][::-1]
    with pytest.raises(ValueError, match="row 2 ends with 1"):
        sic.log_prob(params, bad, np.zeros(8))
    with pytest.raises(ValueError, match="lacks pattern entry"):
        sic.column_terms(params, u_vals, idx, idx[:, -3:], cols)
    with pytest.raises(ValueError, match="must lie in"):
        sic.column_terms(params, u_vals[:1], idx, anc, jnp.array([-1]))
    with pytest.raises(ValueError, match="prior_values_batch"):
        sic.column_terms(params, u_vals[:3], idx, anc, cols)
    with pytest.raises(ValueError, match=r"expects shape \(\.\.\., 8\)"):
        sic.log_prob(params, idx, np.zeros(7))
    with pytest.raises(ValueError, match="prior_values"):
        sic.kl(params, u_vals[:, 1:], idx, anc)
