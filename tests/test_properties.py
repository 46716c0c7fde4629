"""Property tests (hypothesis) over the numeric cores, on random valid inputs.

* Every logit predictive returns probability vectors for any finite mean and PSD covariance.
* Every Laplace structure gives a symmetric PSD posterior covariance and PSD logit
  covariances, for random data and prior precisions.
* The SIC Gaussian log-density equals the dense Gaussian's on random sparse patterns.

Kept small: few examples, fixed shapes inside a test (compiled once), ``deadline=None``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import probapprox as pa
from probapprox.families import sic_gaussian as sic
from probapprox.laplace import MLP, fit_laplace, mlp_apply, mlp_init
from tests.linalg.sic_reference import pad_rows

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
C = 4
METHOD_OPTIONS = {
    "mc": {"key": jax.random.PRNGKey(0), "num_samples": 64},
    "mean_field": {},
    "laplace_bridge": {},
    "probit": {},
    "sigmoid": {},
    "log": {},
    "dirichlet": {},
}


@st.composite
def gaussians(draw):
    """A finite mean (2, C) and a PSD covariance A Aᵀ (+ a possibly-zero ridge), any scale."""
    seed = draw(st.integers(0, 2**31 - 1))
    mean_scale = draw(st.sampled_from([0.0, 1.0, 30.0, 300.0]))
    cov_scale = draw(st.sampled_from([0.0, 1e-6, 1.0, 100.0]))
    rank = draw(st.integers(1, C))
    ridge = draw(st.sampled_from([0.0, 1e-3]))
    rng = np.random.default_rng(seed)
    mean = mean_scale * rng.normal(size=(2, C))
    a = rng.normal(size=(2, C, rank))
    cov = cov_scale * (a @ np.swapaxes(a, -1, -2)) + ridge * np.eye(C)
    cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    return jnp.asarray(mean), jnp.asarray(cov)


@pytest.mark.parametrize("method", sorted(METHOD_OPTIONS))
@SETTINGS
@given(g=gaussians(), full=st.booleans())
def test_predictive_is_a_probability_vector(method, g, full):
    mean, cov = g
    if method == "laplace_bridge":  # its Dirichlet needs σ² > 0 (a documented clear error)
        cov = cov + 1e-3 * jnp.eye(C)
    cov_or_var = cov if full else jnp.diagonal(cov, axis1=-2, axis2=-1)
    p = np.asarray(pa.logits.predictive(mean, cov_or_var, method=method, **METHOD_OPTIONS[method]))
    assert p.shape == mean.shape
    assert np.all(np.isfinite(p))
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-10)


_rng = np.random.default_rng(1)
LX = jnp.asarray(_rng.normal(size=(12, 2)))
PARAMS = mlp_init(jax.random.PRNGKey(3), (2, 4, 3), jnp.float64)


def _assert_psd(m, what):
    m = np.asarray(m)
    scale = max(float(np.max(np.abs(np.diagonal(m, axis1=-2, axis2=-1)))), 1e-300)
    np.testing.assert_allclose(m, np.swapaxes(m, -1, -2), atol=1e-9 * scale, err_msg=what)
    low = np.linalg.eigvalsh(0.5 * (m + np.swapaxes(m, -1, -2)))[..., 0]
    assert np.all(low >= -1e-9 * scale), f"{what}: smallest eigenvalue {low.min()}"


@pytest.mark.parametrize("structure", ["full", "diag", "kron", "lowrank"])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    prior=st.sampled_from([1e-4, 1.0, 1e3]),
    curvature=st.sampled_from(["ggn", "ef"]),
)
def test_laplace_structures_give_psd_covariances(structure, seed, prior, curvature):
    rng = np.random.default_rng(seed)
    y = jnp.asarray(rng.integers(0, 3, size=12))
    params = jax.tree.map(lambda p: p + 0.3 * jnp.asarray(rng.normal(size=p.shape)), PARAMS)
    lap = fit_laplace(
        MLP(jnp.tanh) if structure == "kron" else mlp_apply,
        params,
        LX,
        y,
        structure=structure,
        curvature=curvature,
        prior_precision=prior,
    )
    _assert_psd(lap.posterior_covariance(), f"{structure} posterior covariance")
    _, cov = lap.logits(LX[:5])
    _assert_psd(cov, f"{structure} logit covariance")


@st.composite
def sparse_patterns(draw):
    """A random sparse lower-triangular pattern (each column has j and some i < j)."""
    n = draw(st.integers(2, 9))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    density = draw(st.sampled_from([0.0, 0.3, 1.0]))
    sets = [{j} | {i for i in range(j) if rng.uniform() < density} for j in range(n)]
    return pad_rows(sets), seed


@SETTINGS
@given(pattern=sparse_patterns(), scale=st.sampled_from([0.1, 1.0, 3.0]))
def test_sic_log_density_matches_dense(pattern, scale):
    idx, seed = pattern
    n = idx.shape[0]
    rng = np.random.default_rng(seed + 1)
    params = sic.SICParams(
        jnp.asarray(rng.normal(size=n)),
        jnp.asarray(scale * rng.normal(size=idx.shape) * (idx >= 0)),
        jnp.asarray(scale * rng.normal(size=n)),
    )
    V = np.asarray(pa.linalg.to_dense(sic.factor_values(params, jnp.asarray(idx)), idx, n))
    f = rng.normal(size=(3, n))
    # dense: log N(f; ν, (V Vᵀ)⁻¹) = −n/2 log 2π + log|det V| − ½‖Vᵀ(f − ν)‖²
    r = (f - np.asarray(params.nu)) @ V
    _, logdet = np.linalg.slogdet(V)
    ref = -0.5 * n * np.log(2 * np.pi) + logdet - 0.5 * np.sum(r**2, axis=-1)
    got = np.asarray(sic.log_prob(params, jnp.asarray(idx), jnp.asarray(f)))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
