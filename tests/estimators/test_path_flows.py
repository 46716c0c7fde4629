"""PathELBO on flow guides: exact STL equivalence, zero variance at the optimum, schedules."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO

import probapprox as pa
from probapprox.estimators import PathELBO
from probapprox.families.flows._planar import DELTA
from probapprox.guides import AutoNormalizingFlow

MEAN = jnp.array([1.0, -2.0, 0.5])
SD = jnp.array([0.5, 2.0, 1.0])


def gauss():
    numpyro.sample("x", dist.Normal(MEAN, SD).to_event(1))


def _guide_and_params(flow, perturb=0.0, seed=0):
    g = AutoNormalizingFlow(gauss, flow=flow, num_layers=2, hidden_dims=(8,))
    tr = handlers.trace(handlers.seed(g, 0)).get_trace()
    params = {k: v["value"] for k, v in tr.items() if v["type"] == "param"}
    params["auto_affine_loc"] = MEAN
    params["auto_affine_log_scale"] = jnp.log(SD)
    for k in range(2):
        if flow == "planar":  # exact identity: û = 0 needs wᵀu = m⁻¹(0) and u ∥ w
            w = params[f"auto_layer{k}_w"]
            params[f"auto_layer{k}_u"] = math.log(math.expm1(1.0 - DELTA)) * w / (w @ w)
    leaves, tree = jax.tree.flatten(params)
    rng = np.random.default_rng(seed)  # host noise: a jax.random draw compiles per shape
    noisy = [p + perturb * jnp.asarray(rng.standard_normal(p.shape), p.dtype) for p in leaves]
    return g, jax.tree.unflatten(tree, noisy)


def _grads(loss, g, params, num, seed=1):
    def one(key):
        return jax.grad(lambda p: loss.loss(key, p, gauss, g))(params)

    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(seed), num))


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "flow",
    [
        "planar",
        "radial",
        "affine_coupling",
        "maf",
        "maf_spline",
        pytest.param("spline", marks=SLOW),
    ],
)
def test_forward_score_path_equals_stl_through_the_inverse(flow):
    """Per draw, the no-inverse surrogate gives exactly the STL gradient with stopped params."""
    g, params = _guide_and_params(flow, perturb=0.2)
    key = jax.random.PRNGKey(3)

    def stl_by_inverse(p):
        post = g.get_posterior(p)
        z, _ = post.flow.sample_and_log_prob(post.params, key, ())
        frozen = g.get_posterior(jax.lax.stop_gradient(p))
        return frozen.log_prob(z) - dist.Normal(MEAN, SD).log_prob(z).sum()

    def path_surrogate(p):
        post = g.get_posterior(p)
        z, inter = post.sample_with_intermediates(key, ())
        return post.path_log_prob(z, inter) - dist.Normal(MEAN, SD).log_prob(z).sum()

    ref, got = jax.jit(jax.grad(stl_by_inverse))(params), jax.jit(jax.grad(path_surrogate))(params)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], atol=1e-9, err_msg=k)


@pytest.mark.parametrize("flow", ["planar", "affine_coupling", pytest.param("spline", marks=SLOW)])
def test_zero_gradient_variance_when_the_flow_is_the_posterior(flow):
    """Identity layers + affine at the exact Gaussian posterior: STL noise vanishes."""
    g, params = _guide_and_params(flow)
    stl = _grads(PathELBO(), g, params, 500)
    std = _grads(Trace_ELBO(), g, params, 500)
    assert max(float(jnp.var(v, axis=0).max()) for v in stl.values()) < 1e-8
    assert float(jnp.var(std["auto_affine_loc"], axis=0).max()) > 1e-2


@pytest.mark.parametrize("flow", ["planar", pytest.param("spline", marks=SLOW)])
def test_path_gradient_is_unbiased_for_flows(flow):
    g, params = _guide_and_params(flow, perturb=0.15, seed=4)
    stl = _grads(PathELBO(), g, params, 4000)
    std = _grads(Trace_ELBO(), g, params, 4000)
    for k in stl:
        a, b = stl[k], std[k]
        se = jnp.sqrt((jnp.var(a, 0) + jnp.var(b, 0)) / a.shape[0])
        z = jnp.abs(jnp.mean(a, 0) - jnp.mean(b, 0)) / jnp.maximum(se, 1e-12)
        assert float(jnp.max(z)) < 5.0, k


def test_schedules_and_missing_step_error():
    loss = PathELBO(path_warmup=10, anneal_steps=100, anneal_start=0.01, temper="joint")
    lam0, beta0 = loss.schedules(0)
    lam1, beta1 = loss.schedules(10)
    _, beta2 = loss.schedules(500)
    assert (float(lam0), float(lam1)) == (0.0, 1.0)
    np.testing.assert_allclose([beta0, beta1, beta2], [0.01, 0.11, 1.0], rtol=1e-6)
    assert loss.uses_step and not PathELBO().uses_step
    g, params = _guide_and_params("planar")
    with pytest.raises(ValueError, match="probapprox_step"):
        loss.loss(jax.random.PRNGKey(0), params, gauss, g)
    # at t = 0 (λ = 0, β = 0.01) value and gradient are Trace_ELBO's on the tempered model
    key = jax.random.PRNGKey(5)
    got_val, got = jax.value_and_grad(lambda p: loss.loss(key, p, gauss, g, probapprox_step=0))(
        params
    )
    ref_val, ref = jax.value_and_grad(
        lambda p: Trace_ELBO().loss(key, p, lambda: _tempered(0.01), g)
    )(params)
    np.testing.assert_allclose(got_val, ref_val, rtol=1e-10)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], atol=1e-10, err_msg=k)


def _tempered(beta):
    with handlers.scale(scale=beta):
        gauss()


def test_annealed_fit_in_pa_fit_and_svi_with_step_keyword():
    g = AutoNormalizingFlow(gauss, flow="radial", num_layers=2)
    loss = PathELBO(4, anneal_steps=200, path_warmup=100)
    r = pa.fit(gauss, g, num_steps=400, seed=0, progress=False, loss=loss)
    # reaching the end proves pa.fit passed the step (without it the loss raises)
    assert np.all(np.isfinite(r.losses))
    adam = numpyro.optim.Adam(1e-3)
    svi = SVI(gauss, AutoNormalizingFlow(gauss, flow="radial", num_layers=2), adam, loss)
    state = svi.init(jax.random.PRNGKey(0))
    state, val = svi.update(state, probapprox_step=jnp.array(3))
    assert np.isfinite(float(val))
