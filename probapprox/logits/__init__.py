"""Predictives for a Gaussian over logits, calibration metrics and link likelihoods.

>>> import jax.numpy as jnp
>>> import probapprox as pa  # doctest: +SKIP
>>> probs = pa.logits.predictive(mu, cov, method="sigma_points")  # doctest: +SKIP
>>> pa.logits.ece(probs, labels), pa.logits.nll(probs, labels)  # doctest: +SKIP

Pure JAX except :mod:`probapprox.logits._link_categorical` (NumPyro distributions for training
with the normCDF/sigmoid links). Nothing here sets ``jax.config``. The float64 accuracy
claims in the docstrings need 64-bit floats (``jax_enable_x64``) enabled by the caller.
"""

# helpers for the GP's probit likelihood; not in __all__
from probapprox.logits._gaussian_expectations import LAMBDA0 as LAMBDA0  # noqa: E402
from probapprox.logits._gaussian_expectations import expected_exp as expected_exp
from probapprox.logits._gaussian_expectations import expected_normcdf as expected_normcdf
from probapprox.logits._gaussian_expectations import expected_normcdf_sq as expected_normcdf_sq
from probapprox.logits._gaussian_expectations import expected_sigmoid as expected_sigmoid
from probapprox.logits._gaussian_expectations import expected_sigmoid_sq as expected_sigmoid_sq
from probapprox.logits._gaussian_expectations import (  # noqa: E402
    log_expected_normcdf as log_expected_normcdf,
)
from probapprox.logits._link_categorical import NormCDFCategorical as NormCDFCategorical
from probapprox.logits._link_categorical import SigmoidCategorical as SigmoidCategorical
from probapprox.logits._metrics import accuracy as accuracy
from probapprox.logits._metrics import brier as brier
from probapprox.logits._metrics import ece as ece
from probapprox.logits._metrics import mean_max_prob as mean_max_prob
from probapprox.logits._metrics import nll as nll
from probapprox.logits._owens_t import owens_t as owens_t
from probapprox.logits._predictive import dirichlet_alpha as dirichlet_alpha
from probapprox.logits._predictive import laplace_bridge_alpha as laplace_bridge_alpha
from probapprox.logits._predictive import predictive as predictive

__all__ = [
    "NormCDFCategorical",
    "SigmoidCategorical",
    "accuracy",
    "brier",
    "dirichlet_alpha",
    "ece",
    "expected_exp",
    "expected_normcdf",
    "expected_normcdf_sq",
    "expected_sigmoid",
    "expected_sigmoid_sq",
    "laplace_bridge_alpha",
    "mean_max_prob",
    "nll",
    "owens_t",
    "predictive",
]
