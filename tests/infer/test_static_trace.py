"""``read_trace``: static facts of a model from an abstract trace, eager when it must be."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from probapprox.infer._static_trace import read_trace
from probapprox.infer._subsample import subsampled_plates


def beta_model(y):
    p = numpyro.sample("p", dist.Beta(2.0, 2.0))
    with numpyro.plate("data", y.shape[0], subsample_size=3) as idx:
        numpyro.sample("y", dist.Bernoulli(p), obs=y[idx])


def branching_model(y):
    m = numpyro.sample("m", dist.Normal(0.0, 1.0))
    if float(jnp.sum(y)) > 0:  # Python control flow on the data's value
        with numpyro.plate("pos", y.shape[0], subsample_size=2) as idx:
            numpyro.sample("y", dist.Normal(m, 1.0), obs=y[idx])
    else:
        numpyro.sample("y", dist.Normal(m, 1.0).expand([y.shape[0]]).to_event(1), obs=y)


def broken_model():
    raise RuntimeError("the model's own error")


def _value_kinds(tr):
    return {
        n: isinstance(s["value"], jax.core.Tracer) for n, s in tr.items() if s["type"] == "sample"
    }


def test_abstract_trace_computes_nothing():
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    # every value is a tracer: no prior draw ran (and no sampler was compiled)
    assert read_trace(beta_model, (y,), {}, _value_kinds) == {"p": True, "y": True}
    assert subsampled_plates(beta_model, (y,), {}) == {"data": (5, 3)}


def test_data_dependent_control_flow_is_traced_eagerly():
    y = np.array([1.0, 2.0, 3.0])
    assert read_trace(branching_model, (y,), {}, _value_kinds) == {"m": False, "y": False}
    assert subsampled_plates(branching_model, (y,), {}) == {"pos": (3, 2)}
    assert subsampled_plates(branching_model, (-y,), {}) == {}


def test_the_models_own_error_comes_through():
    with pytest.raises(RuntimeError, match="the model's own error"):
        read_trace(broken_model, (), {}, _value_kinds)
    assert subsampled_plates(broken_model, (), {}) == {}
