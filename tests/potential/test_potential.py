"""probapprox.potential and the eigenvalue floor: exact answers on Gaussian and two-mode targets."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.scipy.special import logsumexp

import probapprox.potential as pp
from probapprox.linalg import eigenvalue_floor, floor_eigenvalues
from probapprox.models import get_model

RNG = np.random.default_rng(0)
A = RNG.standard_normal((4, 4))
PREC = A @ A.T + np.diag([1e-3, 1.0, 10.0, 1e3])  # condition number ~1e6
MEAN = np.array([1.0, -2.0, 3e2, 5e-3])


def gauss(z):
    d = z - MEAN
    return 0.5 * d @ PREC @ d


def test_floor_rule():
    lam = jnp.array([-1.0, 1e-20, 0.0, 2.0])
    floor = 4 * np.finfo(float).eps * 2.0
    assert float(eigenvalue_floor(lam)) == pytest.approx(floor, rel=1e-12)
    a, n = floor_eigenvalues(lam)
    np.testing.assert_allclose(a, [1.0, floor, floor, 2.0], rtol=1e-12)
    assert int(n) == 3  # negative and below-floor eigenvalues are counted
    a, n = floor_eigenvalues(lam, 0.5)
    np.testing.assert_allclose(a, [1.0, 0.5, 0.5, 2.0])
    assert int(n) == 3
    a, _ = floor_eigenvalues(jnp.zeros(3))  # an all-zero spectrum: positive, finite floor
    assert np.all(a > 0) and np.all(np.isfinite(a))
    batched, _ = floor_eigenvalues(jnp.stack([lam, 2 * lam]))
    np.testing.assert_allclose(batched[1], 2 * np.asarray(floor_eigenvalues(lam)[0]))


def test_newton_map_on_a_gaussian_is_exact():
    res = jax.jit(lambda z: pp.newton_map(gauss, z))(jnp.zeros(4))
    assert bool(res.converged)
    np.testing.assert_allclose(res.loc, MEAN, rtol=1e-10, atol=1e-10)
    hess = (res.evecs * res.evals) @ res.evecs.T
    np.testing.assert_allclose(hess, PREC, rtol=1e-9, atol=1e-9)
    c, n = pp.laplace_factor(res.evals, res.evecs)
    assert int(n) == 0 and np.allclose(np.triu(c, 1), 0)
    np.testing.assert_allclose(c @ c.T, np.linalg.inv(PREC), rtol=1e-8, atol=1e-14)


def test_saddle_free_newton_leaves_a_saddle_for_the_minimum():
    def u(z):  # saddle at 0, minima at (+-1, 0)
        return (z[0] ** 2 - 1) ** 2 + z[1] ** 2

    res = pp.newton_map(u, jnp.array([1e-3, 0.5]))
    assert bool(res.converged)
    np.testing.assert_allclose(res.loc, [1.0, 0.0], atol=1e-10)
    np.testing.assert_allclose(res.evals, [2.0, 8.0], rtol=1e-8)


def test_lbfgs_path_and_diagonal_curvature():
    search = pp.find_modes(gauss, np.zeros((2, 4)), dense_max=0)
    assert not search.dense and len(search.modes) == 1
    m = search.best
    np.testing.assert_allclose(m.loc, MEAN, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.curvature, np.diag(PREC), rtol=1e-10)
    np.testing.assert_allclose(m.scale_tril, 1 / np.sqrt(np.diag(PREC)), rtol=1e-10)


W, LOC, SD = np.array([0.3, 0.7]), np.array([[-6.0, 1.0], [6.0, -2.0]]), np.array([0.5, 1.5])


def two_modes(z):
    comp = -0.5 * jnp.sum((z - LOC) ** 2, -1) / SD**2 - 2 * jnp.log(SD) - jnp.log(2 * jnp.pi)
    return -logsumexp(jnp.log(W) + comp)


def test_two_modes_found_with_exact_curvature_and_mass():
    starts = np.concatenate([LOC + 0.3, LOC - 0.2, RNG.uniform(-8, 8, (12, 2))])
    search = pp.find_modes(two_modes, starts)
    assert len(search.modes) == 2
    assert sum(m.count for m in search.modes) == int(search.converged.sum())
    by_x = sorted(search.modes, key=lambda m: m.loc[0])
    for m, loc, sd, w in zip(by_x, LOC, SD, W, strict=True):
        np.testing.assert_allclose(m.loc, loc, atol=1e-8)  # the other mode weighs ~e^-34 here
        np.testing.assert_allclose(m.cov, sd**2 * np.eye(2), rtol=1e-6, atol=1e-12)
        assert m.log_mass == pytest.approx(np.log(w), abs=1e-6)  # Laplace is exact here
        assert m.num_clipped == 0
    assert search.best.log_density == pytest.approx(-float(two_modes(jnp.asarray(LOC[0]))))


def test_merge_tolerance_is_mahalanobis():
    loc = np.zeros(2)
    m = pp.Mode(loc, 0.0, (np.array([1e4, 1.0]), np.eye(2)), np.diag([1e-2, 1.0]), 0.0, 0)
    assert m.sq_distance(np.array([0.0, 0.4])) == pytest.approx(0.16)  # within 0.5 sd
    assert m.sq_distance(np.array([0.04, 0.0])) == pytest.approx(16.0)  # 4 sd in a narrow axis


@pytest.mark.parametrize("name", ["normal_normal", "linear_regression"])
def test_model_potential_gaussian_posteriors_are_exact(name):
    bm = get_model(name)
    mp = pp.model_potential(bm.model, bm.args, bm.kwargs)
    search = pp.find_modes(mp.potential, pp.dispersed_starts(mp, 4))
    assert len(search.modes) == 1 and search.best.count == 4
    ref = bm.reference
    site = ref.sites[0]
    np.testing.assert_allclose(search.best.loc, np.ravel(ref.mean[site]), rtol=1e-8)
    cov = ref.cov if ref.cov is not None else np.diag(np.ravel(ref.sd[site]) ** 2)
    np.testing.assert_allclose(search.best.cov, cov, rtol=1e-7, atol=1e-14)


def test_model_potential_errors_name_the_site():
    def discrete():
        numpyro.sample("k", dist.Bernoulli(0.3))
        numpyro.sample("y", dist.Normal(0.0, 1.0), obs=1.0)

    def no_latent():
        numpyro.sample("y", dist.Normal(0.0, 1.0), obs=1.0)

    def bad(y=1.0):
        m = numpyro.sample("m", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(m, 1.0), obs=y)
        numpyro.factor("broken", jnp.where(m > 100, 0.0, -jnp.inf))

    with pytest.raises(ValueError, match="'k' is discrete"):
        pp.model_potential(discrete)
    with pytest.raises(ValueError, match="no latent sample site"):
        pp.model_potential(no_latent)
    mp = pp.model_potential(bad)
    assert pp.nonfinite_site(mp, np.zeros(1)) == "broken"
    assert pp.nonfinite_site(mp, np.full(1, 200.0)) is None


def test_dispersed_starts_prior_and_improper():
    bm = get_model("eight_schools")
    mp = pp.model_potential(bm.model, bm.args, bm.kwargs)
    starts = pp.dispersed_starts(mp, 5, seed=3)
    assert starts.shape == (5, 10) and mp.proper
    np.testing.assert_allclose(starts[0], mp.init)
    assert np.all(np.isfinite(starts)) and np.unique(starts[:, 0]).size == 5
    bm = get_model("four_modes")
    mp = pp.model_potential(bm.model, bm.args, bm.kwargs)
    starts = pp.dispersed_starts(mp, 7)
    assert not mp.proper and np.abs(starts[1:]).max() > 2.0  # wider cubes than NumPyro's 2


def test_prior_draws_are_unconstrained_prior_draws_in_layout_order():
    def model():
        numpyro.sample("b", dist.Normal(3.0, 0.5).expand([2]).to_event(1))
        numpyro.sample("s", dist.LogNormal(-1.0, 2.0))

    draws = pp.prior_draws(model, (), {}, {"s": (), "b": (2,)}, seed=0, num=1000)
    assert draws.shape == (1000, 3)  # the layout's order: s first, then b
    # log s ~ N(-1, 2) and b ~ N(3, 0.5), within 5 Monte Carlo standard errors
    np.testing.assert_allclose(draws.mean(0), [-1.0, 3.0, 3.0], atol=5 * 2.0 / np.sqrt(1000))
    np.testing.assert_allclose(draws.std(0), [2.0, 0.5, 0.5], rtol=0.12)  # 5 se
    assert pp.prior_draws(model, (), {}, {"s": (), "b": (2,)}, seed=0, num=0).shape == (0, 3)
    assert pp.prior_draws(model, (), {}, {"s": (), "b": (3,)}, seed=0, num=2) is None  # layout

    def improper():
        numpyro.sample("x", dist.ImproperUniform(dist.constraints.real, (), ()))

    assert pp.prior_draws(improper, (), {}, {"x": ()}, seed=0, num=2) is None
