"""The FitHooks contract: each hook is consulted where documented, else its default applies."""

import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import AutoDiagonalNormal, AutoNormal

import probapprox as pa
from probapprox.estimators import PathELBO
from probapprox.guides import FitHooks, Whitener
from probapprox.infer._hooks import hook
from probapprox.infer._plan import split_args
from tests.infer.conftest import hier_model, linreg_model


def test_defaults_when_no_hook_is_defined():
    guide = AutoNormal(linreg_model, init_scale=0.3)
    assert isinstance(hook(guide, "default_loss")(100), PathELBO)
    assert isinstance(hook(linreg_model, "default_loss")(100), Trace_ELBO)
    assert hasattr(hook(guide, "default_optimizer")(100), "eval_and_update")
    assert hook(guide, "init_scale") == 0.3
    assert hook(linreg_model, "init_scale") == 0.1
    assert hook(pa.guides.AutoNormalizingFlow(linreg_model, init_scale=2.0), "init_scale") == 2.0
    assert hook(guide, "post_fit") is None and hook(guide, "whitener") is None
    assert hook(PathELBO(path_warmup=3), "uses_step") and not hook(Trace_ELBO(), "uses_step")
    assert hook(PathELBO(), "stick_the_landing") and not hook(Trace_ELBO(), "stick_the_landing")
    assert hook(Trace_ELBO(), "anneal_steps") is None
    assert hook(pa.optim.FBGVI(1e-2), "paired_loss") is not None
    assert hook(guide, "paired_loss") is None


def test_default_loss_hook_with_or_without_the_step_budget():
    class NoArg(AutoNormal):
        def default_loss(self):
            return Trace_ELBO(num_particles=3)

    class WithSteps(AutoNormal):
        def default_loss(self, num_steps):
            return Trace_ELBO(num_particles=num_steps)

    assert hook(NoArg(linreg_model), "default_loss")(7).num_particles == 3
    assert hook(WithSteps(linreg_model), "default_loss")(7).num_particles == 7


def test_the_guides_own_whitener_hook_is_asked_first(linreg_data):
    class Declines(AutoDiagonalNormal):
        def whitener(self, flat, *, dense_max):
            return None, "this guide prefers its own start"

    r = pa.fit(linreg_model, Declines(linreg_model), *linreg_data, num_steps=50, progress=False)
    assert r.info["warm_start"] == "not applied: this guide prefers its own start"


def test_a_whitener_hook_reproduces_the_builtin_whitening(hier_data):
    """A subclass of AutoDiagonalNormal (not in the table) whitened by its own hook fits
    exactly as AutoDiagonalNormal, which the table whitens with the same map."""

    class OwnWhitening(AutoDiagonalNormal):
        def whitener(self, flat, *, dense_max):
            assert flat.dim == 10 and dense_max == 200

            def to_model(p, shift, factor):
                return {
                    **p,
                    "auto_loc": shift + factor * p["auto_loc"],
                    "auto_scale": factor * p["auto_scale"],
                }

            def init(p, *, unit_scale):
                scale = jnp.ones_like(p["auto_scale"]) if unit_scale else p["auto_scale"]
                return {**p, "auto_loc": jnp.zeros_like(p["auto_loc"]), "auto_scale": scale}

            return Whitener("diag", to_model, init), ""

    kw = {"num_steps": 200, "progress": False}
    ours = pa.fit(hier_model, OwnWhitening(hier_model), *hier_data, **kw)
    ref = pa.fit(hier_model, AutoDiagonalNormal(hier_model), *hier_data, **kw)
    assert ours.info["warm_start"] == ref.info["warm_start"] == "diag whitening at the MAP"
    np.testing.assert_allclose(ours.losses, ref.losses, rtol=1e-12)
    for k in ref.params:
        np.testing.assert_allclose(ours.params[k], ref.params[k], rtol=1e-12)


def test_post_fit_hook_gets_the_model_arguments(linreg_data):
    seen = {}

    class Finished(AutoNormal):
        def post_fit(self, params, *args, **kwargs):
            seen["args"] = args
            return {**params, "extra": jnp.ones(2)}

    r = pa.fit(linreg_model, Finished(linreg_model), *linreg_data, num_steps=30, progress=False)
    assert len(seen["args"]) == 2 and np.array_equal(seen["args"][0], linreg_data[0])
    np.testing.assert_array_equal(r.params["extra"], np.ones(2))


def test_the_protocol_documents_every_hook_the_resolver_knows():
    from probapprox.infer._hooks import _DEFAULTS

    members = set(FitHooks.__annotations__) | {
        n for n in vars(FitHooks) if not n.startswith("_") and callable(vars(FitHooks)[n])
    }
    assert members == set(_DEFAULTS)
    with pytest.raises(KeyError):
        hook(AutoNormal(linreg_model), "not_a_hook")


def test_split_args_keeps_arrays_dynamic_and_the_rest_static():
    x = np.arange(3.0)
    dynamic, rebuild = split_args((x, 2, "s"), {"y": jnp.ones(2), "f": None, "z": 1.5})
    assert len(dynamic) == 2
    args, kwargs = rebuild([d * 2 for d in dynamic])
    np.testing.assert_array_equal(args[0], 2 * x)
    assert args[1:] == (2, "s") and kwargs["f"] is None and kwargs["z"] == 1.5
