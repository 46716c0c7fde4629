"""Bad inputs to ``pa.fit`` and the guides: each raises a clear error naming the culprit."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import AutoDelta, AutoMultivariateNormal, AutoNormal

import probapprox as pa
from probapprox.guides import (
    AutoIsoGaussianMixture,
    AutoLaplace,
    AutoNormalizingFlow,
)
from tests.bad_inputs.conftest import (
    YB,
    YC,
    Case,
    X,
    Y,
    bern,
    cat,
    check,
    discrete_latent,
    factor_model,
    hier,
    lin,
    no_latent,
    other,
    pois,
    positive,
    quick_fit,
    scale_model,
)


def put(a, i, v):
    return jnp.asarray(a).at[i].set(v)


def fit_kw(**kw):
    return lambda ctx: quick_fit(**kw)


def fit_data(model, *args, **kw):
    return lambda ctx: quick_fit(model, None, *args, **kw)


SUPPORT = r"outside its support"
FIT_OPTIONS = [
    Case("num_steps=0", fit_kw(num_steps=0), ValueError, r"num_steps"),
    Case("num_steps=-3", fit_kw(num_steps=-3), ValueError, r"num_steps"),
    Case("num_steps=2.5", fit_kw(num_steps=2.5), ValueError, r"num_steps"),
    Case("num_steps='100'", fit_kw(num_steps="100"), ValueError, r"num_steps"),
    Case("num_steps=True", fit_kw(num_steps=True), ValueError, r"num_steps"),
    Case("seed=-1", fit_kw(seed=-1), ValueError, r"seed"),
    Case("seed=1.5", fit_kw(seed=1.5), ValueError, r"seed"),
    Case("seed='a'", fit_kw(seed="a"), ValueError, r"seed"),
    Case("progress='no'", fit_kw(progress="no"), TypeError, r"progress"),
    Case("progress=None", fit_kw(progress=None), TypeError, r"progress"),
    Case("progress=0", fit_kw(progress=0), TypeError, r"progress"),
    Case("skip_nonfinite='no'", fit_kw(skip_nonfinite="no"), TypeError, r"skip_nonfinite"),
    Case("skip_nonfinite=1", fit_kw(skip_nonfinite=1), TypeError, r"skip_nonfinite"),
    Case("resume='yes'", fit_kw(resume="yes"), TypeError, r"resume"),
    Case("loss='elbo'", fit_kw(loss="elbo"), TypeError, r"loss"),
    Case("loss=class", fit_kw(loss=Trace_ELBO), TypeError, r"loss.*Trace_ELBO\(\)"),
    Case("loss=3", fit_kw(loss=3), TypeError, r"loss"),
    Case("optimizer='adam'", fit_kw(optimizer="adam"), TypeError, r"optimizer"),
    Case("optimizer=0.01", fit_kw(optimizer=0.01), TypeError, r"optimizer"),
    Case("optimizer=optax fn", fit_kw(optimizer=optax.adam), TypeError, r"optimizer"),
    Case("callback=3", fit_kw(callback=3), TypeError, r"callback"),
    Case("chunk_size=0", fit_kw(chunk_size=0), ValueError, r"chunk_size"),
    Case("chunk_size=-1", fit_kw(chunk_size=-1), ValueError, r"chunk_size"),
    Case("checkpoint_every=0", fit_kw(checkpoint_every=0), ValueError, r"checkpoint_every"),
    Case("checkpoint_every no path", fit_kw(checkpoint_every=5), ValueError, r"checkpoint"),
    Case("checkpoint=3", fit_kw(checkpoint=3), TypeError, r"checkpoint"),
    Case("warm_start='yes'", fit_kw(warm_start="yes"), TypeError, r"warm_start"),
    Case("early_stop='auto'", fit_kw(early_stop="auto"), TypeError, r"early_stop"),
    Case("num_starts=0", fit_kw(num_starts=0), ValueError, r"num_starts"),
    Case("num_starts=-2", fit_kw(num_starts=-2), ValueError, r"num_starts"),
    Case("multi_start='all'", fit_kw(multi_start="all"), ValueError, r"multi_start"),
    Case("dense_max=0", fit_kw(dense_max=0), ValueError, r"dense_max"),
    Case("init_params list", fit_kw(init_params=[1.0]), TypeError, r"init_params"),
    Case(
        "init_params unknown key",
        fit_kw(init_params={"zzz": jnp.zeros(())}),
        ValueError,
        r"init_params.*'zzz'.*a_auto_loc",
    ),
    Case(
        "init_params site name",
        fit_kw(init_params={"a": jnp.zeros(())}),
        ValueError,
        r"init_params.*\['a'\]",
    ),
    Case("guide=3", fit_kw(guide=3), TypeError, r"guide"),
    Case("guide='NoSuchGuide'", fit_kw(guide="NoSuchGuide"), ValueError, r"NoSuchGuide"),
    Case("model=None", lambda ctx: pa.fit(None, "AutoNormal", X, Y), TypeError, r"model"),
    Case("model='lin'", lambda ctx: pa.fit("lin", "AutoNormal", X, Y), TypeError, r"model"),
    Case(
        "guide for another model",
        fit_kw(guide=AutoNormal(other)),
        ValueError,
        r"guide.*AutoNormal.*latent sites.*'c'.*'a'",
    ),
    Case(
        "MVN guide for another model",
        fit_kw(guide=AutoMultivariateNormal(other)),
        ValueError,
        r"guide.*latent sites",
    ),
    Case(
        "guide for a model with other args",
        fit_kw(guide=AutoNormal(factor_model)),
        ValueError,
        r"guide.*(built for another model|latent sites)",
    ),
]

FIT_MODELS = [
    Case("no latent sites", fit_data(no_latent, X, Y), ValueError, r"no latent sample sites"),
    Case("discrete latent", fit_data(discrete_latent, X, Y), ValueError, r"'z'.*discrete"),
    Case("NaN in y", fit_data(lin, X, put(Y, 3, np.nan)), ValueError, r"'y'.*nan.*\(3,\)"),
    Case("inf in y", fit_data(lin, X, put(Y, 0, np.inf)), ValueError, r"'y'.*inf.*\(0,\)"),
    Case("-inf in y", fit_data(lin, X, put(Y, 7, -np.inf)), ValueError, r"'y'.*\(7,\)"),
    Case("Bernoulli label 2", fit_data(bern, X, put(YB, 4, 2.0)), ValueError, r"'y'.*2\.0.*0 or 1"),
    Case("Bernoulli label -1", fit_data(bern, X, put(YB, 1, -1.0)), ValueError, r"'y'.*-1\.0"),
    Case("Bernoulli label 0.5", fit_data(bern, X, put(YB, 2, 0.5)), ValueError, r"'y'.*0\.5"),
    Case("Bernoulli NaN", fit_data(bern, X, put(YB, 2, np.nan)), ValueError, r"'y'.*nan"),
    Case("Poisson -1", fit_data(pois, X, put(YC, 2, -1.0)), ValueError, r"'y'.*-1\.0.*counts"),
    Case("Poisson 2.5", fit_data(pois, X, put(YC, 2, 2.5)), ValueError, r"'y'.*2\.5.*counts"),
    Case("Poisson NaN", fit_data(pois, X, put(YC, 5, np.nan)), ValueError, r"'y'.*nan"),
    Case(
        "Categorical label 3",
        fit_data(cat, X, put(jnp.zeros(30, int), 6, 3)),
        ValueError,
        r"'y'.*3.*\(6,\)",
    ),
    Case(
        "Categorical label -1",
        fit_data(cat, X, put(jnp.zeros(30, int), 6, -1)),
        ValueError,
        r"'y'.*-1",
    ),
    Case(
        "Exponential negative obs",
        fit_data(positive, X, put(jnp.ones(30), 9, -2.0)),
        ValueError,
        r"'y'.*-2\.0.*\(9,\)",
    ),
    Case("factor(nan)", fit_data(factor_model, np.nan), ValueError, r"factor.*'f'.*nan"),
    Case("factor(-inf)", fit_data(factor_model, -np.inf), ValueError, r"factor.*'f'.*-inf"),
    Case("factor(+inf)", fit_data(factor_model, np.inf), ValueError, r"factor.*'f'.*inf"),
    Case(
        "factor array nan",
        fit_data(factor_model, put(jnp.zeros(4), 2, np.nan)),
        ValueError,
        r"'f'.*\(2,\)",
    ),
    Case("NaN covariate", fit_data(lin, put(X, 5, np.nan), Y), ValueError, r"'X'.*\(5,\)"),
    Case("inf covariate", fit_data(lin, put(X, 5, np.inf), Y), ValueError, r"'X'.*inf"),
    Case("-inf covariate", fit_data(lin, put(X, 8, -np.inf), Y), ValueError, r"'X'.*\(8,\)"),
    Case(
        "NaN covariate (keyword)",
        lambda ctx: pa.fit(lin, AutoNormal(lin), X=put(X, 1, np.nan), y=Y, progress=False),
        ValueError,
        r"'X'.*\(1,\)",
    ),
    Case(
        "negative scale data",
        fit_data(scale_model, X, put(jnp.ones(30), 3, -1.0), Y),
        ValueError,
        r"'y'.*scale.*-1\.0.*\(3,\)",
    ),
    Case(
        "NaN scale data",
        fit_data(scale_model, X, put(jnp.ones(30), 3, np.nan), Y),
        ValueError,
        r"'sigma'.*\(3,\)",
    ),
    Case(
        "group index NaN covariate (hier)",
        lambda ctx: quick_fit(hier, None, put(X, 0, np.nan), Y, group=jnp.zeros(30, int)),
        ValueError,
        r"'X'",
    ),
]

GUIDES = [
    Case(
        "mixture num_components=0",
        lambda ctx: AutoIsoGaussianMixture(lin, num_components=0),
        ValueError,
        r"num_components",
    ),
    Case(
        "mixture weights='learn'",
        lambda ctx: AutoIsoGaussianMixture(lin, weights="learn"),
        ValueError,
        r"weights",
    ),
    Case(
        "mixture init_radius=-1",
        lambda ctx: AutoIsoGaussianMixture(lin, init_radius=-1.0),
        ValueError,
        r"init_radius",
    ),
    Case(
        "mixture init_variance=0",
        lambda ctx: AutoIsoGaussianMixture(lin, init_variance=0.0),
        ValueError,
        r"init_variance",
    ),
    Case(
        "mixture step_size=nan",
        lambda ctx: AutoIsoGaussianMixture(lin, step_size=float("nan")),
        ValueError,
        r"step_size",
    ),
    Case(
        "mixture variance_step='newton'",
        lambda ctx: AutoIsoGaussianMixture(lin, variance_step="newton"),
        ValueError,
        r"variance_step",
    ),
    Case(
        "mixture num_particles=0",
        lambda ctx: AutoIsoGaussianMixture(lin, num_particles=0),
        ValueError,
        r"num_particles",
    ),
    Case(
        "IsoMixtureDescent step_size=0",
        lambda ctx: pa.optim.IsoMixtureDescent(0.0),
        ValueError,
        r"step_size",
    ),
    Case(
        "IsoMixtureDescent variance_step",
        lambda ctx: pa.optim.IsoMixtureDescent(variance_step="x"),
        ValueError,
        r"variance_step",
    ),
    Case(
        "IsoMixtureDescent weight_step_size=-1",
        lambda ctx: pa.optim.IsoMixtureDescent(weight_step_size=-1.0),
        ValueError,
        r"weight_step_size",
    ),
    Case(
        "IsoMixtureDescent decay_steps=0",
        lambda ctx: pa.optim.IsoMixtureDescent(decay_steps=0),
        ValueError,
        r"decay_steps",
    ),
    Case(
        "IsoMixtureDescent on AutoNormal",
        lambda ctx: quick_fit(optimizer=pa.optim.IsoMixtureDescent()),
        KeyError,
        r"IsoMixtureDescent.*auto_means",
    ),
    Case(
        "flow num_layers=0",
        lambda ctx: AutoNormalizingFlow(lin, num_layers=0),
        ValueError,
        r"num_layers",
    ),
    Case("flow='magic'", lambda ctx: AutoNormalizingFlow(lin, flow="magic"), ValueError, r"flow"),
    Case("flow base='cauchy'", lambda ctx: AutoNormalizingFlow(lin, base="x"), ValueError, r"base"),
    Case(
        "flow num_bins=0", lambda ctx: AutoNormalizingFlow(lin, num_bins=0), ValueError, "num_bins"
    ),
    Case("flow bound=-1", lambda ctx: AutoNormalizingFlow(lin, bound=-1.0), ValueError, r"bound"),
    Case(
        "laplace curvature='fisher'",
        lambda ctx: AutoLaplace(lin, curvature="fisher"),
        ValueError,
        r"curvature",
    ),
    Case(
        "laplace structure='block'",
        lambda ctx: AutoLaplace(lin, structure="block"),
        ValueError,
        r"structure",
    ),
    Case("laplace rank=0", lambda ctx: AutoLaplace(lin, rank=0), ValueError, r"rank"),
    Case(
        "make_guide unknown",
        lambda ctx: pa.guides.make_guide("AutoMagic", lin),
        ValueError,
        r"AutoMagic",
    ),
    Case(
        "AutoDelta for another model",
        fit_kw(guide=AutoDelta(other)),
        ValueError,
        r"guide.*latent sites",
    ),
]


@pytest.mark.parametrize("case", FIT_OPTIONS + FIT_MODELS + GUIDES, ids=lambda c: c.id)
def test_bad_input(case, ctx):
    check(case, ctx)


def test_enough_cases():
    assert len(FIT_OPTIONS + FIT_MODELS + GUIDES) >= 80
