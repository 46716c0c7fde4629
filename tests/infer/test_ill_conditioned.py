"""Acceptance: default pa.fit with AutoMultivariateNormal on ill-conditioned posteriors.

Means within 0.1 posterior sd and sds within 20 % of an exact (conjugate) or long-NUTS
reference (``models/ill_conditioned.py``; the NUTS draws are in
``benchmarks/results/ill_conditioned_nuts.npz``). Plain Adam with the same budget does not get
there (``benchmarks/bench_robust_defaults.py`` shows the comparison).
"""

import numpy as np
import pytest
from numpyro.infer.autoguide import AutoMultivariateNormal

import probapprox as pa
from probapprox.models.ill_conditioned import CASES, NUTS_FILE

CHEAP = ["unscaled_regression", "logistic_1e4"]
HEAVY = ["centred_hierarchical", "garch11"]


def _check(name):
    bm = CASES[name]
    if bm.reference is None:
        pytest.skip(f"no NUTS reference at {NUTS_FILE}")
    r = pa.fit(
        bm.model, AutoMultivariateNormal(bm.model), *bm.args, seed=0, progress=False, **bm.kwargs
    )
    assert r.info["warm_start"] == "dense whitening at the MAP"
    draws = r.sample(20_000, seed=1)
    for site, mean in bm.reference.mean.items():
        sd = bm.reference.sd[site]
        err = np.abs(draws[site].mean(0) - mean) / sd
        ratio = draws[site].std(0) / sd
        assert np.all(err < 0.1), (site, err)
        assert np.all(np.abs(ratio - 1) < 0.2), (site, ratio)
    return r


def test_reference_is_as_ill_conditioned_as_promised():
    ref = CASES["unscaled_regression"].reference
    corr = ref.cov / np.outer(ref.sd["beta"], ref.sd["beta"])
    assert np.max(np.abs(corr - np.eye(4))) > 0.99
    assert ref.sd["beta"].min() < 2e-3 and np.linalg.cond(ref.cov) > 1e9


@pytest.mark.parametrize("name", CHEAP)
def test_default_fit_matches_reference(name):
    r = _check(name)
    assert r.converged  # these stop early


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVY)
def test_default_fit_matches_reference_heavy(name):
    _check(name)
