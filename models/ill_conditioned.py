r"""Ill-conditioned posteriors as real data give them: unscaled, correlated, constrained.

Not in the bundled-model registry (they are test and benchmark cases for ``pa.fit``'s robust
defaults); :data:`CASES` maps names to :class:`~probapprox.models.BundledModel`. Data are drawn
once from fixed seeds at import.

* ``unscaled_regression``: :math:`y = X\beta + \varepsilon`, :math:`\sigma = 0.1` known, with
  an intercept, :math:`x_1 \approx 2000 \pm 50`, :math:`x_2 = x_1 + 5 z` and a standard
  :math:`x_3`. Posterior correlations :math:`> 0.999`, standard deviations from
  :math:`2\cdot10^{-3}` to :math:`0.3`; the reference is exact (conjugate).
* ``logistic_1e4``: logistic regression whose first predictor has standard deviation
  :math:`10^4` (posterior sd of its weight :math:`\approx 3\cdot10^{-5}`).
* ``centred_hierarchical``: 30 groups of 10 measurements around 500 (sd 5), centred
  :math:`\theta_j \sim \mathcal N(\mu, \tau)`, vague priors on the measurement scale.
* ``garch11``: GARCH(1,1) on 1500 daily returns, :math:`\sigma_t^2 = \omega + \alpha
  r_{t-1}^2 + \beta\sigma_{t-1}^2` with :math:`(\alpha, \beta, 1-\alpha-\beta)` on the simplex
  (so :math:`\alpha + \beta < 1`) and :math:`\omega \approx 2\cdot10^{-6}`.

The last three have long-NUTS references (4 chains x 3000 draws, dense mass matrix): posterior
means, sds and bulk ESS per site in ``models/data/ill_conditioned_nuts.npz`` (a few kB, written
by ``benchmarks/ill_conditioned_nuts.py``); :func:`nuts_reference` reads them.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from probapprox.models._reference import BundledModel, Reference

__all__ = ["CASES", "NUTS_FILE", "nuts_reference", "exact_regression_reference"]

NUTS_FILE = Path(__file__).resolve().parent / "data" / "ill_conditioned_nuts.npz"
_SIGMA = 0.1
_TAU = 100.0


def unscaled_regression(X, y=None):
    r""":math:`\beta \sim \mathcal N(0, 100^2 I)`, :math:`y \sim \mathcal N(X\beta, 0.1^2)`."""
    beta = numpyro.sample("beta", dist.Normal(0.0, _TAU).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("obs", dist.Normal(X @ beta, _SIGMA), obs=y)


def _regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5001)
    n = 200
    x1 = 2000.0 + 50.0 * rng.standard_normal(n)
    x2 = x1 + 5.0 * rng.standard_normal(n)
    x3 = rng.standard_normal(n)
    x = np.column_stack([np.ones(n), x1, x2, x3])
    y = x @ np.array([3.0, 0.02, -0.01, 0.5]) + _SIGMA * rng.standard_normal(n)
    return x, y


def exact_regression_reference(x: np.ndarray, y: np.ndarray) -> Reference:
    """Exact Gaussian posterior of :func:`unscaled_regression` (float64)."""
    prec = x.T @ x / _SIGMA**2 + np.eye(x.shape[1]) / _TAU**2
    cov = np.linalg.inv(prec)
    cov = 0.5 * (cov + cov.T)
    mean = cov @ (x.T @ y) / _SIGMA**2
    return Reference(
        mean={"beta": mean}, sd={"beta": np.sqrt(np.diag(cov))}, cov=cov, sites=("beta",)
    )


def logistic_1e4(X, y=None):
    r""":math:`w \sim \mathcal N(0, 1)`, :math:`b \sim \mathcal N(0, 5^2)`, Bernoulli-logit."""
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([X.shape[1]]).to_event(1))
    b = numpyro.sample("b", dist.Normal(0.0, 5.0))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("obs", dist.Bernoulli(logits=X @ w + b), obs=y)


def _logistic_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5002)
    n = 500
    x = np.column_stack([1e4 * rng.standard_normal(n), rng.standard_normal(n)])
    logits = x @ np.array([1.5e-4, 1.0]) - 0.5
    return x, (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)


def centred_hierarchical(group, y=None, num_groups=30):
    r"""Centred hierarchical normal model.

    :math:`\mu \sim \mathcal N(0, 1000^2)`, :math:`\tau, \sigma \sim \mathcal N^+(100)`,
    :math:`\theta_j \sim \mathcal N(\mu, \tau)`, :math:`y_i \sim \mathcal N(\theta_{g_i},
    \sigma)`.
    """
    mu = numpyro.sample("mu", dist.Normal(0.0, 1000.0))
    tau = numpyro.sample("tau", dist.HalfNormal(100.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(100.0))
    with numpyro.plate("groups", num_groups):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
    with numpyro.plate("data", group.shape[0]):
        numpyro.sample("obs", dist.Normal(theta[group], sigma), obs=y)


def _hierarchical_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5003)
    theta = 500.0 + 20.0 * rng.standard_normal(30)
    group = np.repeat(np.arange(30), 10)
    return group, theta[group] + 5.0 * rng.standard_normal(group.size)


def garch11(r):
    r"""GARCH(1,1) returns with a constrained parameter region.

    :math:`\omega \sim \mathrm{LogNormal}(\log 10^{-5}, 2)` and
    :math:`(\alpha, \beta, 1-\alpha-\beta) \sim \mathrm{Dirichlet}(1, 1, 1)`.
    """
    omega = numpyro.sample("omega", dist.LogNormal(jnp.log(1e-5), 2.0))
    ab = numpyro.sample("ab", dist.Dirichlet(jnp.ones(3)))
    alpha, beta = ab[0], ab[1]

    def step(var: jax.Array, r_prev: jax.Array) -> tuple[jax.Array, jax.Array]:
        var = omega + alpha * r_prev**2 + beta * var
        return var, var

    _, var = jax.lax.scan(step, jnp.var(r), r[:-1])
    numpyro.sample("obs", dist.Normal(0.0, jnp.sqrt(var)), obs=r[1:])


def _garch_data() -> np.ndarray:
    rng = np.random.default_rng(5004)
    omega, alpha, beta, n = 2e-6, 0.08, 0.9, 1500
    var, out = omega / (1 - alpha - beta), np.empty(n)
    for t in range(n):
        out[t] = np.sqrt(var) * rng.standard_normal()
        var = omega + alpha * out[t] ** 2 + beta * var
    return out


def nuts_reference(name: str) -> Reference | None:
    """Means and sds of a long NUTS run for case ``name`` (``None`` if not computed yet)."""
    if not NUTS_FILE.exists():
        return None
    with np.load(NUTS_FILE) as data:
        sites = sorted({k.split("/")[1] for k in data.files if k.startswith(f"{name}/")})
        mean = {s: np.asarray(data[f"{name}/{s}/mean"]) for s in sites}
        sd = {s: np.asarray(data[f"{name}/{s}/sd"]) for s in sites}
    if not sites:
        return None
    return Reference(mean=mean, sd=sd, sites=tuple(sites))


def _cases() -> dict[str, BundledModel]:
    xr, yr = _regression_data()
    xl, yl = _logistic_data()
    group, yh = _hierarchical_data()
    return {
        "unscaled_regression": BundledModel(
            "unscaled_regression",
            unscaled_regression,
            (xr,),
            {"y": yr},
            "linear regression, predictors ~2000 with correlation 0.995, exact posterior",
            exact_regression_reference(xr, yr),
        ),
        "logistic_1e4": BundledModel(
            "logistic_1e4",
            logistic_1e4,
            (xl,),
            {"y": yl},
            "logistic regression, one predictor with sd 1e4",
            nuts_reference("logistic_1e4"),
        ),
        "centred_hierarchical": BundledModel(
            "centred_hierarchical",
            centred_hierarchical,
            (group,),
            {"y": yh},
            "centred hierarchical normal model, measurements around 500",
            nuts_reference("centred_hierarchical"),
        ),
        "garch11": BundledModel(
            "garch11",
            garch11,
            (_garch_data(),),
            {},
            "GARCH(1,1) on 1500 daily returns",
            nuts_reference("garch11"),
        ),
    }


CASES: dict[str, BundledModel] = _cases()
