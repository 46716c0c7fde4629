r"""Categorical likelihoods with elementwise normCDF or sigmoid links, for training.

.. math::
    p(y = c \mid z) = \frac{g(z_c)}{\sum_k g(z_k)}, \qquad
    \log p(y = c \mid z) = \log g(z_c) - \mathrm{LSE}_k \log g(z_k),

with :math:`g = \Phi` (:class:`NormCDFCategorical`, via ``log_ndtr``) or :math:`g = \sigma`
(:class:`SigmoidCategorical`, via ``log_sigmoid``). These are the normalised likelihoods
that Mucsányi et al. (2025) train with, so that Gaussian-logit methods (Laplace, HET, SNGP)
then get sampling-free predictives with ``predictive(..., method="probit")`` or
``"sigmoid"``. Computed in log space, they stay finite for logits of any size.

Reference:
    Mucsányi, Da Costa, Hennig (2025), "Rethinking approximate Gaussian inference in
    classification", NeurIPS (arXiv 2502.03366).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import log_ndtr, logsumexp
from numpyro.distributions import constraints
from numpyro.distributions.util import validate_sample

__all__ = ["NormCDFCategorical", "SigmoidCategorical"]


@jax.jit
def _normcdf_log_probs(z: jax.Array) -> jax.Array:
    log_g = log_ndtr(z)
    return log_g - logsumexp(log_g, axis=-1, keepdims=True)


@jax.jit
def _sigmoid_log_probs(z: jax.Array) -> jax.Array:
    log_g = jax.nn.log_sigmoid(z)
    return log_g - logsumexp(log_g, axis=-1, keepdims=True)


class _LinkCategorical(dist.Distribution):
    """Categorical over ``C`` classes with ``p_c ∝ g(logits_c)``; subclasses set ``_log_probs``."""

    arg_constraints = {"logits": constraints.real_vector}
    pytree_data_fields = ("logits",)
    has_enumerate_support = True

    def __init__(self, logits: jax.ArrayLike, *, validate_args: bool | None = None) -> None:
        logits = jnp.asarray(logits, jnp.result_type(logits, 1.0))
        if logits.ndim < 1:
            raise ValueError(
                f"{type(self).__name__}(logits=...) expects shape (..., C); got a scalar."
            )
        self.logits = logits
        super().__init__(batch_shape=logits.shape[:-1], validate_args=validate_args)

    @staticmethod
    def _log_probs(z: jax.Array) -> jax.Array:
        """``log g(z_c) - LSE_k log g(z_k)``."""
        raise NotImplementedError

    @property
    def log_probs(self) -> jax.Array:
        """Normalised log class probabilities ``(..., C)``."""
        return self._log_probs(self.logits)

    @property
    def probs(self) -> jax.Array:
        """Class probabilities ``g(z_c) / Σ_k g(z_k)``, shape ``(..., C)``."""
        return jnp.exp(self.log_probs)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        """The integers ``0, ..., C - 1``."""
        return constraints.integer_interval(0, self.logits.shape[-1] - 1)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Class indices of shape ``sample_shape + batch_shape``."""
        return jax.random.categorical(key, self.log_probs, shape=sample_shape + self.batch_shape)

    @validate_sample
    def log_prob(self, value: jax.ArrayLike) -> jax.Array:
        """Log probability of the class indices ``value`` (broadcast against the batch)."""
        value = jnp.asarray(value)
        shape = jax.lax.broadcast_shapes(value.shape, self.batch_shape)
        log_p = jnp.broadcast_to(self.log_probs, (*shape, self.logits.shape[-1]))
        index = jnp.broadcast_to(value, shape)[..., None].astype(jnp.int32)
        return jnp.take_along_axis(log_p, index, axis=-1)[..., 0]

    def enumerate_support(self, expand: bool = True) -> jax.Array:  # noqa: FBT001, FBT002
        """All class indices, shape ``(C,) + (1,) * len(batch_shape)`` or expanded."""
        values = jnp.arange(self.logits.shape[-1]).reshape((-1,) + (1,) * len(self.batch_shape))
        if expand:
            values = jnp.broadcast_to(values, values.shape[:1] + self.batch_shape)
        return values

    def entropy(self) -> jax.Array:
        """``-Σ_c p_c log p_c``."""
        log_p = self.log_probs
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    @property
    def mean(self) -> jax.Array:
        """Undefined for unordered classes: NaN, as for numpyro's ``Categorical``."""
        return jnp.full(self.batch_shape, jnp.nan, self.logits.dtype)

    @property
    def variance(self) -> jax.Array:
        """Undefined for unordered classes: NaN."""
        return jnp.full(self.batch_shape, jnp.nan, self.logits.dtype)


class NormCDFCategorical(_LinkCategorical):
    r"""Categorical with :math:`p_c = \Phi(z_c) / \sum_k \Phi(z_k)` (normCDF link).

    Args:
        logits: real logits ``z``, shape ``batch_shape + (C,)``.
        validate_args: numpyro argument validation.

    Example:
        >>> import jax.numpy as jnp
        >>> d = NormCDFCategorical(jnp.array([0.0, 0.0]))
        >>> [round(float(p), 3) for p in d.probs]
        [0.5, 0.5]

    """

    _log_probs = staticmethod(_normcdf_log_probs)


class SigmoidCategorical(_LinkCategorical):
    r"""Categorical with :math:`p_c = \sigma(z_c) / \sum_k \sigma(z_k)` (sigmoid link).

    Args:
        logits: real logits ``z``, shape ``batch_shape + (C,)``.
        validate_args: numpyro argument validation.

    """

    _log_probs = staticmethod(_sigmoid_log_probs)
