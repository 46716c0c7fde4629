"""The draws sampler: one compiled program for every request size, exact draw counts."""

import numpy as np
from numpyro.infer.autoguide import AutoMultivariateNormal

import probapprox as pa
from probapprox.infer._draws import make_sampler
from tests.infer.conftest import hier_model


def test_one_program_serves_sample_and_diagnostics(hier_data):
    r = pa.fit(
        hier_model, AutoMultivariateNormal(hier_model), *hier_data, num_steps=100, progress=False
    )
    r.sample(1000, seed=1)
    r.diagnostics(10_000, warn=False)
    r.to_arviz(700, log_likelihood=False)
    assert list(r._sampler) == [False]  # one sampler (no subsampled plate)
    assert r._sampler[False].program._cache_size() == 1

    sampler = make_sampler(hier_model, r.guide, hier_data, {}, batch_size=8)
    for n in (1, 5, 8, 13):
        d = sampler(n, 0, r.params)
        assert d.log_q.shape == d.log_p.shape == (n,)
        assert d.latent["z"].shape == (n, 8) and d.deterministic["theta"].shape == (n, 8)
        assert np.all(np.isfinite(d.log_p))
    # draws depend on their own key only: the padded last batch and the batch size do not
    # change them, and the same seed gives the same draws
    big = make_sampler(hier_model, r.guide, hier_data, {}, batch_size=64)(13, 0, r.params)
    small = sampler(13, 0, r.params)
    np.testing.assert_allclose(big.latent["z"], small.latent["z"], rtol=1e-12)
    np.testing.assert_allclose(big.log_p, small.log_p, rtol=1e-12)
    np.testing.assert_array_equal(sampler(13, 0, r.params).log_q, small.log_q)
