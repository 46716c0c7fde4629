"""Bad inputs to ``pa.logits``, ``pa.laplace``, ``pa.gp`` and ``pa.diagnostics``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import probapprox as pa
from probapprox.diagnostics._psis import psis_khat_threshold
from probapprox.gp._quadrature import gh_points
from probapprox.laplace import fit_laplace
from tests.bad_inputs.conftest import Case, check

KEY = jax.random.PRNGKey(0)
MU = jnp.zeros((4, 3))
VAR = jnp.ones((4, 3))
EYE = jnp.broadcast_to(jnp.eye(3), (4, 3, 3))
PROBS = jnp.full((4, 3), 1 / 3)
LABELS = jnp.array([0, 1, 2, 0])


def pred(mean=MU, cov=VAR, method="mean_field", **kw):
    if method == "mc" and "key" not in kw:
        kw["key"] = KEY
    return lambda ctx: pa.logits.predictive(mean, cov, method=method, **kw)


ASYM = EYE.at[1, 0, 2].set(0.5)
INDEF = EYE.at[0, 0, 1].set(0.9).at[0, 1, 0].set(0.9).at[0, 1, 2].set(0.9).at[0, 2, 1].set(0.9)
NEG_DEFINITE = -EYE
BIG_OFF = EYE.at[2, 0, 1].set(2.0).at[2, 1, 0].set(2.0)
RANK_DEFICIENT_NEG = jnp.broadcast_to(jnp.array([[1.0, 1, 1], [1, 1, 1], [1, 1, 0.5]]), (4, 3, 3))

LOGITS = [
    Case("mean list", pred(mean=[[0.0, 1.0]]), ValueError, r"mean"),
    Case("mean 1 class", pred(mean=jnp.zeros((4, 1)), cov=jnp.ones((4, 1))), ValueError, r"mean"),
    Case("mean scalar", pred(mean=jnp.zeros(()), cov=jnp.ones(())), ValueError, r"mean"),
    Case("mean NaN", pred(mean=MU.at[0, 0].set(jnp.nan)), ValueError, r"mean.*non-finite"),
    Case("mean inf", pred(mean=MU.at[0, 0].set(jnp.inf)), ValueError, r"mean"),
    Case("var NaN", pred(cov=VAR.at[1, 1].set(jnp.nan)), ValueError, r"cov_or_var"),
    Case("var negative", pred(cov=VAR.at[1, 1].set(-1.0)), ValueError, r"cov_or_var.*negative"),
    Case("var wrong shape", pred(cov=jnp.ones((4, 2))), ValueError, r"cov_or_var.*shape"),
    Case("cov wrong shape", pred(cov=jnp.ones((4, 3, 2))), ValueError, r"cov_or_var"),
    Case("unknown method", pred(method="probit2"), ValueError, r"method"),
    Case("unknown option", pred(method="probit", pairwise=True), ValueError, r"pairwise"),
    Case("mc num_samples=0", pred(method="mc", num_samples=0), ValueError, r"num_samples"),
    Case("mc without key", lambda c: pa.logits.predictive(MU, VAR, method="mc"), ValueError, "key"),
    Case(
        "bridge correction",
        pred(method="laplace_bridge", correction="x"),
        ValueError,
        r"correction",
    ),
    Case("dirichlet link", pred(method="dirichlet", link="tanh"), ValueError, r"link"),
    *[
        Case(f"{name} covariance, {m}", pred(cov=cov, method=m), ValueError, r"cov_or_var.*" + w)
        for name, cov, w in [
            ("asymmetric", ASYM, "symmetric"),
            ("indefinite", INDEF, "positive semi-definite"),
            ("|C_ij| > sqrt(C_ii C_jj)", BIG_OFF, "positive semi-definite"),
            ("negative definite", NEG_DEFINITE, "negative variance"),
            ("rank-deficient indefinite", RANK_DEFICIENT_NEG, "positive semi-definite"),
        ]
        for m in ("mc", "mean_field", "laplace_bridge")
    ],
    Case(
        "dirichlet_alpha asymmetric",
        lambda c: pa.logits.dirichlet_alpha(MU, ASYM),
        ValueError,
        "cov_or_var",
    ),
    Case(
        "laplace_bridge_alpha indefinite",
        lambda c: pa.logits.laplace_bridge_alpha(MU, INDEF),
        ValueError,
        r"cov_or_var",
    ),
    Case("nll label 3", lambda c: pa.logits.nll(PROBS, LABELS.at[0].set(3)), ValueError, "labels"),
    Case(
        "nll label -1", lambda c: pa.logits.nll(PROBS, LABELS.at[0].set(-1)), ValueError, "labels"
    ),
    Case("ece probs rows", lambda c: pa.logits.ece(PROBS * 2, LABELS), ValueError, r"probs"),
    Case(
        "ece num_bins=0", lambda c: pa.logits.ece(PROBS, LABELS, num_bins=0), ValueError, "num_bins"
    ),
    Case("brier shape", lambda c: pa.logits.brier(PROBS, LABELS[:2]), ValueError, r"labels"),
    Case(
        "accuracy float labels",
        lambda c: pa.logits.accuracy(PROBS, LABELS + 0.5),
        ValueError,
        "labels",
    ),
    Case(
        "nll negative probs",
        lambda c: pa.logits.nll(PROBS.at[0].set(jnp.array([-0.5, 1.0, 0.5])), LABELS),
        ValueError,
        "probs",
    ),
]


def linear_apply(params, X):
    return X @ params["W"] + params["b"]


_rng = np.random.default_rng(0)
LX = jnp.asarray(_rng.normal(size=(20, 3)))
LY = jnp.asarray(_rng.integers(0, 3, size=20))
LP = {"W": jnp.asarray(_rng.normal(size=(3, 3))), "b": jnp.zeros(3)}


def lap(**kw):
    args = {"apply_fn": linear_apply, "params_map": LP, "X": LX, "y": LY}
    args.update(kw)
    return lambda ctx: fit_laplace(
        args.pop("apply_fn"), args.pop("params_map"), args.pop("X"), args.pop("y"), **args
    )


LAPLACE = [
    Case("curvature='fisher'", lap(curvature="fisher"), ValueError, r"curvature"),
    Case("structure='block'", lap(structure="block"), ValueError, r"structure"),
    Case("subset='some'", lap(subset="some"), ValueError, r"subset"),
    Case("likelihood='gaussian'", lap(likelihood="gaussian"), ValueError, r"likelihood"),
    Case("prior_precision=-1", lap(prior_precision=-1.0), ValueError, r"prior_precision"),
    Case("prior_precision=0", lap(prior_precision=0.0), ValueError, r"prior_precision"),
    Case("prior_precision=nan", lap(prior_precision=float("nan")), ValueError, "prior_precision"),
    Case(
        "prior_precision wrong length",
        lap(prior_precision=[1.0, 2, 3]),
        ValueError,
        "prior_precision",
    ),
    Case("batch_size=0", lap(batch_size=0), ValueError, r"batch_size"),
    Case("lowrank rank=99", lap(structure="lowrank", rank=99), ValueError, r"rank"),
    Case("last_layer without feature_fn", lap(subset="last_layer"), ValueError, r"feature_fn"),
    Case("label 3 of 3 classes", lap(y=LY.at[0].set(3)), ValueError, r"y=.*labels"),
    Case("label -1", lap(y=LY.at[0].set(-1)), ValueError, r"labels must be >= 0"),
    Case("float labels", lap(y=np.asarray(LY) + 0.5), ValueError, r"y=.*integer"),
    Case("len(y) != len(X)", lap(y=LY[:-1]), ValueError, r"len\(y\)"),
    Case(
        "bernoulli with 3 logits",
        lap(likelihood="bernoulli", y=(LY > 0).astype(int)),
        ValueError,
        "bernoulli",
    ),
    Case(
        "non-finite MAP",
        lap(params_map={"W": LP["W"].at[0, 0].set(jnp.inf), "b": LP["b"]}),
        ValueError,
        "non-finite",
    ),
    Case("kron on a plain function", lap(structure="kron"), NotImplementedError, r"apply_fn"),
    Case("NaN in X", lap(X=LX.at[2, 1].set(jnp.nan)), ValueError, r"X|non-finite"),
]


def _kern(**kw):
    return lambda ctx: pa.gp.Matern32(**kw)


GX = np.random.default_rng(1).normal(size=(12, 2))
GY = (GX[:, 0] > 0).astype(float)


def _gp(**kw):
    return pa.gp.LatentGP(pa.gp.Matern32(lengthscale=1.0), "bernoulli", **kw)


def gp_fit(X=GX, y=GY, **kw):
    return lambda ctx: _gp().fit(X, y, num_epochs=1, **kw)


GP = [
    Case("lengthscale=-1", _kern(lengthscale=-1.0), ValueError, r"lengthscale"),
    Case("lengthscale=0", _kern(lengthscale=0.0), ValueError, r"lengthscale"),
    Case("lengthscale=nan", _kern(lengthscale=float("nan")), ValueError, r"lengthscale"),
    Case("variance=-2", _kern(variance=-2.0), ValueError, r"variance"),
    Case("variance=inf", _kern(variance=float("inf")), ValueError, r"variance"),
    Case(
        "make_likelihood('binomial')",
        lambda c: pa.gp.make_likelihood("binomial"),
        ValueError,
        "binomial",
    ),
    Case("Gaussian variance=0", lambda c: pa.gp.Gaussian(0.0), ValueError, r"variance"),
    Case("StudentT df=-1", lambda c: pa.gp.StudentT(df=-1.0), ValueError, r"df"),
    Case("gh_points(0)", lambda c: gh_points(0), ValueError, r"num_points"),
    Case("LatentGP rho=-1", lambda c: _gp(rho=-1.0), ValueError, r"rho"),
    Case("LatentGP nugget=-1", lambda c: _gp(nugget=-1.0), ValueError, r"nugget"),
    Case("LatentGP variational='x'", lambda c: _gp(variational="x"), ValueError, r"variational"),
    Case("LatentGP init='x'", lambda c: _gp(init="x"), ValueError, r"init"),
    Case(
        "LatentGP likelihood=3",
        lambda c: pa.gp.LatentGP(pa.gp.RBF(), 3),
        (TypeError, ValueError),
        r"likelihood",
    ),
    Case("fit X NaN", gp_fit(X=np.where(np.eye(12, 2) > 0, np.nan, GX)), ValueError, r"X"),
    Case("fit y length", gp_fit(y=GY[:-1]), ValueError, r"y="),
    Case(
        "fit Bernoulli label 2", gp_fit(y=np.where(np.arange(12) == 3, 2.0, GY)), ValueError, r"y"
    ),
    Case("fit y NaN", gp_fit(y=np.where(np.arange(12) == 3, np.nan, GY)), ValueError, r"y"),
    Case("fit num_epochs=0", lambda c: _gp().fit(GX, GY, num_epochs=0), ValueError, r"num_epochs"),
    Case("fit batch_size=0", gp_fit(batch_size=0), ValueError, r"batch_size"),
    Case("fit seed=-1", gp_fit(seed=-1), ValueError, r"seed"),
    Case("fit one point", lambda c: _gp().fit(GX[:1], GY[:1], num_epochs=1), ValueError, r"X"),
    Case("fit X 3-d", gp_fit(X=GX[:, :, None]), ValueError, r"X"),
    Case("predict before fit", lambda c: _gp().predict_f(GX), (ValueError, RuntimeError), r"fit"),
    Case(
        "lengthscale of wrong dim",
        lambda c: pa.gp.LatentGP(pa.gp.Matern32(lengthscale=jnp.ones(3)), "bernoulli").fit(
            GX, GY, num_epochs=1
        ),
        ValueError,
        r"lengthscale",
    ),
]

DIAGNOSTICS = [
    Case("psis empty", lambda c: pa.diagnostics.psis(np.zeros(0)), ValueError, r"log_weights"),
    Case(
        "psis NaN",
        lambda c: pa.diagnostics.psis(np.array([0.0, np.nan] * 50)),
        ValueError,
        r"log_weights",
    ),
    Case("psis 2-d", lambda c: pa.diagnostics.psis(np.zeros((10, 10))), ValueError, r"log_weights"),
    Case(
        "psis all -inf",
        lambda c: pa.diagnostics.psis(np.full(100, -np.inf)),
        ValueError,
        r"log_weights",
    ),
    Case("threshold(0)", lambda c: psis_khat_threshold(0), ValueError, r"num_samples"),
    Case(
        "diagnose 10 draws",
        lambda c: pa.diagnostics.diagnose(np.zeros(10), np.zeros(10)),
        ValueError,
        r"num_samples",
    ),
]


@pytest.mark.parametrize("case", LOGITS + LAPLACE + GP + DIAGNOSTICS, ids=lambda c: c.id)
def test_bad_input(case, ctx):
    check(case, ctx)


def test_enough_cases():
    assert len(LOGITS + LAPLACE + GP + DIAGNOSTICS) >= 60


@pytest.mark.parametrize("method", ["mc", "mean_field", "laplace_bridge", "probit"])
def test_psd_within_tolerance_is_accepted(method):
    """Round-off asymmetry and tiny negative eigenvalues (≤ sqrt(eps)·max var) pass."""
    a = np.random.default_rng(2).normal(size=(4, 3, 2))
    cov = jnp.asarray(a @ np.swapaxes(a, -1, -2))  # rank 2: smallest eigenvalue ~ ±1e-16
    cov = cov.at[:, 0, 1].add(1e-12)  # asymmetric at round-off level
    kw = {"key": KEY} if method == "mc" else {}
    p = np.asarray(pa.logits.predictive(MU, cov, method=method, **kw))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    assert np.all(p >= 0)
