import numpy as np
import pytest
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

import probapprox as pa
from tests.infer.conftest import hier_model

STEPS = 120


def _fit(data, **kw):
    return pa.fit(
        hier_model,
        AutoMultivariateNormal(hier_model),
        *data,
        num_steps=STEPS,
        seed=3,
        chunk_size=10,
        progress=False,
        **kw,
    )


def _interrupt_at(step):
    def cb(done, _losses):
        if done >= step:
            raise KeyboardInterrupt

    return cb


def test_resume_is_bit_exact(tmp_path, hier_data):
    full = _fit(hier_data)
    path = tmp_path / "ckpt.npz"
    with pytest.raises(KeyboardInterrupt):
        _fit(hier_data, checkpoint=path, checkpoint_every=40, callback=_interrupt_at(90))
    assert path.exists()
    resumed = _fit(hier_data, checkpoint=path, checkpoint_every=40)
    np.testing.assert_array_equal(resumed.losses, full.losses)
    for k in full.params:
        np.testing.assert_array_equal(np.asarray(resumed.params[k]), np.asarray(full.params[k]))
    # the finished checkpoint resumes to the same result without running any step
    again = _fit(hier_data, checkpoint=path, callback=lambda *a: pytest.fail("ran a step"))
    np.testing.assert_array_equal(again.losses, full.losses)


def test_checkpoint_mismatch_is_explained(tmp_path, hier_data):
    path = tmp_path / "ckpt.npz"
    _fit(hier_data, checkpoint=path)
    with pytest.raises(pa.CheckpointMismatch, match="seed"):
        pa.fit(
            hier_model,
            AutoMultivariateNormal(hier_model),
            *hier_data,
            num_steps=STEPS,
            seed=4,
            checkpoint=path,
            progress=False,
        )
    with pytest.raises(pa.CheckpointMismatch, match="guide"):
        pa.fit(
            hier_model,
            AutoNormal(hier_model),
            *hier_data,
            num_steps=STEPS,
            seed=3,
            checkpoint=path,
            progress=False,
        )
    fresh = pa.fit(
        hier_model,
        AutoNormal(hier_model),
        *hier_data,
        num_steps=STEPS,
        seed=3,
        checkpoint=path,
        resume=False,
        progress=False,
    )
    assert fresh.losses.shape == (STEPS,)
