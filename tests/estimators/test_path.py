import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import AutoMultivariateNormal

from probapprox.estimators import PathELBO

MEAN = jnp.array([1.0, -2.0])
COV = jnp.array([[2.0, 0.6], [0.6, 0.5]])


def gauss():
    numpyro.sample("x", dist.MultivariateNormal(MEAN, COV))


def _grads(loss, params, num):
    guide = AutoMultivariateNormal(gauss)
    numpyro.handlers.seed(guide, 0)()  # set up the prototype

    def g(key, p):
        return jax.grad(lambda q: loss.loss(key, q, gauss, guide))(p)

    keys = jax.random.split(jax.random.PRNGKey(1), num)
    return jax.jit(jax.vmap(g, in_axes=(0, None)))(keys, params)


def _params(shift=0.0):
    return {"auto_loc": MEAN + shift, "auto_scale_tril": jnp.linalg.cholesky(COV)}


def test_zero_variance_at_exact_posterior():
    stl = _grads(PathELBO(), _params(), 2000)
    std = _grads(Trace_ELBO(), _params(), 2000)
    for k in stl:
        assert float(jnp.var(stl[k], axis=0).max()) < 1e-8
    assert float(jnp.var(std["auto_loc"], axis=0).max()) > 1e-2


def test_unbiased_away_from_optimum():
    """E[STL gradient] equals E[reparameterised gradient] (large-sample check)."""
    p = _params(shift=0.7)
    stl = _grads(PathELBO(), p, 100_000)
    std = _grads(Trace_ELBO(), p, 100_000)
    for k in p:
        se = jnp.sqrt(jnp.var(stl[k], 0) / 1e5 + jnp.var(std[k], 0) / 1e5)
        diff = jnp.abs(stl[k].mean(0) - std[k].mean(0))
        assert bool(jnp.all(diff < 5 * se + 1e-6)), (k, diff, se)


def test_loss_value_is_minus_elbo():
    p = _params()
    guide = AutoMultivariateNormal(gauss)
    numpyro.handlers.seed(guide, 0)()
    value = PathELBO(num_particles=4).loss(jax.random.PRNGKey(0), p, gauss, guide)
    assert float(value) == pytest.approx(0.0, abs=1e-10)  # q = p and log Z = 0


def test_bad_num_particles():
    with pytest.raises(ValueError, match="num_particles"):
        PathELBO(num_particles=0)
    np.testing.assert_equal(PathELBO(3).num_particles, 3)


def test_delta_sites_use_their_log_density_not_exact_equality():
    # an autoguide's constrained site is Delta(T(z), log_density=-log|J|); jit may round the
    # live and the frozen copies of T(z) one ulp apart, and Delta.log_prob's equality test
    # would then give log 0 = -inf (an infinite ELBO on a fraction of garch11's steps)
    from probapprox.estimators._path import _log_prob

    v = jnp.array([0.3, 0.5])
    fn = dist.Delta(v, log_density=jnp.array(-1.25), event_dim=1)
    moved = v * (1 + 2e-16) + 1e-17
    assert not bool(jnp.isfinite(fn.log_prob(moved)))
    assert float(_log_prob(fn, moved)) == -1.25
    normal = dist.Normal(0.0, 1.0)
    assert float(_log_prob(normal, 0.5)) == float(normal.log_prob(0.5))
