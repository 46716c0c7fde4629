r"""Bayesian logistic regression on the Wisconsin diagnostic breast-cancer table.

The table (569 rows, 30 features and a 0/1 ``target``) ships as ``models/data/breast_cancer.csv``;
see ``models/data/README.md`` for its source and columns. No exact posterior is known.
"""

from pathlib import Path

import numpy as np
import numpyro
import numpyro.distributions as dist

from probapprox.models._reference import BundledModel

__all__ = ["bundles", "load_breast_cancer", "logistic_regression"]

WEIGHT_PRIOR_SCALE = 1.0
BIAS_PRIOR_SCALE = 5.0


def load_breast_cancer(*, standardize: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load the bundled breast-cancer table.

    Args:
        standardize: Centre each feature and divide by its (population) standard deviation.

    Returns:
        ``(X, y, feature_names)``: float64 features of shape ``(569, 30)``, int labels of shape
        ``(569,)`` (1 = benign, 0 = malignant, as in scikit-learn) and the 30 column names.

    """
    resource = Path(__file__).resolve().parent.joinpath("data", "breast_cancer.csv")
    with resource.open("r", encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    if standardize:
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, y, header[:-1]


def logistic_regression(X, y=None):
    r"""Model binary labels by logistic regression with Gaussian priors.

    .. math::

        w \sim \mathcal N(0, I_d), \qquad b \sim \mathcal N(0, 5^2), \qquad
        y_i \mid w, b \sim \mathrm{Bernoulli}\big(\operatorname{logit}^{-1}(x_i^\top w + b)\big).

    Sites: ``w`` (latent, shape ``(d,)``), ``b`` (latent scalar) and ``obs`` (observed, in
    plate ``data``).

    Args:
        X: Features of shape ``(n, d)``, standardised.
        y: 0/1 labels of shape ``(n,)``, or ``None`` for the prior predictive.

    """
    d = X.shape[1]
    w = numpyro.sample("w", dist.Normal(0.0, WEIGHT_PRIOR_SCALE).expand([d]).to_event(1))
    b = numpyro.sample("b", dist.Normal(0.0, BIAS_PRIOR_SCALE))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("obs", dist.Bernoulli(logits=X @ w + b), obs=y)


def bundles() -> list[BundledModel]:
    """Return the breast-cancer logistic regression (standardised features); no exact reference."""
    x, y, _ = load_breast_cancer()
    return [
        BundledModel(
            name="logistic_regression",
            model=logistic_regression,
            args=(x,),
            kwargs={"y": y},
            description=(
                "Logistic regression on breast cancer (569 x 30, standardised), "
                "w ~ N(0, I), b ~ N(0, 5^2)."
            ),
            reference=None,
        )
    ]
