r"""The likelihood interface of :mod:`probapprox.gp`: one latent value per observation.

A likelihood is :math:`p(y \mid f, \phi)` with :math:`f` the latent GP value at the same input.
Under a Gaussian marginal :math:`q(f) = \mathcal N(\mu, v)` (the variational marginal of a
latent GP) every likelihood provides

.. math::
    \text{expected\_log\_prob}(y, \mu, v) &= \mathbb E_{q}[\log p(y \mid f)]
        \quad\text{(the ELBO data term)}, \\
    \text{predictive\_log\_prob}(y, \mu, v) &= \log \mathbb E_{q}[p(y \mid f)]
        \quad\text{(the test log predictive density)}, \\
    \text{predict\_y}(\mu, v) &= \big(\mathbb E[y],\ \mathrm{Var}[y]\big)
        \quad\text{under } p(y) = \textstyle\int p(y \mid f)\, q(f)\, df.

The defaults here use Gauss–Hermite quadrature (:mod:`probapprox.gp._quadrature`);
subclasses override them with closed forms where they exist. Everything is elementwise and
broadcasts over ``(y, mean, var)``. Likelihoods are frozen pytrees whose leaves are the
learnable positive parameters (the static configuration, such as a link or ``num_points``,
is auxiliary data).

Reference:
    Rasmussen & Williams (2006), *Gaussian Processes for Machine Learning*, §3.4–3.5 (the
    predictive :math:`\int p(y \mid f) q(f) df`); Hensman, Matthews & Ghahramani (2015),
    "Scalable variational Gaussian process classification", AISTATS (the expected
    log-likelihood by one-dimensional quadrature).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import jax
import jax.numpy as jnp
import numpy as np

from probapprox._checks import check_int
from probapprox.gp._params import Frozen, check_unconstrained
from probapprox.gp._quadrature import DEFAULT_NUM_POINTS, gh_expectation, gh_log_expectation

__all__ = ["Likelihood", "as_float"]


def as_float(*arrays: jax.ArrayLike) -> tuple[jax.Array, ...]:
    """Cast the arguments to one common floating dtype (no broadcasting)."""
    dtype = jnp.result_type(*arrays, 1.0)
    return tuple(jnp.asarray(a, dtype) for a in arrays)


class Likelihood(Frozen):
    """Base class; subclasses set ``name``, ``_param_names`` and implement ``log_prob``.

    Args:
        num_points: the number of Gauss–Hermite nodes for the expectations without a closed
            form (static; default 20).

    """

    __slots__ = ("num_points",)
    name: ClassVar[str] = "likelihood"
    _param_names: ClassVar[tuple[str, ...]] = ()
    num_points: int

    def __init__(self, *, num_points: int = DEFAULT_NUM_POINTS) -> None:
        if type(self) is Likelihood:
            raise TypeError(
                "Likelihood is abstract; use Gaussian, Bernoulli, Poisson or StudentT "
                "(or make_likelihood)."
            )
        n = check_int(type(self).__name__, "num_points", num_points)
        object.__setattr__(self, "num_points", n)

    def __repr__(self) -> str:
        fields = [f"{n}={getattr(self, n)!r}" for n in self._param_names]
        return f"{type(self).__name__}({', '.join([*fields, f'num_points={self.num_points}'])})"

    # ----------------------------------------------------------------------------------
    # the maths
    @jax.jit
    def log_prob(self, y: jax.ArrayLike, f: jax.ArrayLike) -> jax.Array:
        r""":math:`\log p(y \mid f)`, elementwise."""
        raise NotImplementedError

    @jax.jit
    def expected_log_prob(
        self, y: jax.ArrayLike, mean: jax.ArrayLike, var: jax.ArrayLike
    ) -> jax.Array:
        r""":math:`\mathbb E_{f \sim \mathcal N(\mu, v)}[\log p(y \mid f)]`, elementwise.

        Args:
            y: observations.
            mean: μ, the Gaussian marginal means of f.
            var: v ≥ 0, the marginal variances.

        Returns:
            The expectation, shape ``broadcast(y, mean, var).shape``.

        """
        y, mean, var = as_float(y, mean, var)
        return gh_expectation(lambda f: self.log_prob(y[..., None], f), mean, var, self.num_points)

    @jax.jit
    def predictive_log_prob(
        self, y: jax.ArrayLike, mean: jax.ArrayLike, var: jax.ArrayLike
    ) -> jax.Array:
        r""":math:`\log \int p(y \mid f)\, \mathcal N(f; \mu, v)\, df`, elementwise.

        Minus this is the test negative log predictive density. The default is
        Gauss–Hermite in log space (log-sum-exp over the nodes).
        """
        y, mean, var = as_float(y, mean, var)
        return gh_log_expectation(
            lambda f: self.log_prob(y[..., None], f), mean, var, self.num_points
        )

    @jax.jit
    def predict_y(self, mean: jax.ArrayLike, var: jax.ArrayLike) -> tuple[jax.Array, jax.Array]:
        r"""Mean and variance of y under :math:`\int p(y \mid f)\, \mathcal N(f; \mu, v)\, df`."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------
    # data checks (host side)
    def _check_support(self, y: np.ndarray) -> None:
        """Subclass hook: raise ValueError if ``y`` (finite, float) is outside the support."""

    def validate_y(self, y: Any) -> jax.Array:
        """Check observations on the host and return them as a float array.

        Args:
            y: the observations (array-like of numbers; booleans are read as 0/1).

        Returns:
            ``y`` as a JAX array in the default float dtype.

        Raises:
            TypeError: if ``y`` is traced (call this before ``jax.jit``) or not numeric.
            ValueError: if ``y`` holds NaN/inf or values outside the likelihood's support.

        """
        owner = f"{type(self).__name__}.validate_y"
        if isinstance(y, jax.core.Tracer):
            raise TypeError(f"{owner}(y=...) needs concrete data; call it outside jax.jit/grad.")
        host = np.asarray(y)
        if host.dtype == bool:
            host = host.astype(float)
        if not (np.issubdtype(host.dtype, np.integer) or np.issubdtype(host.dtype, np.floating)):
            raise TypeError(f"{owner}(y=...) expects numbers; got dtype {host.dtype}.")
        host = host.astype(float)
        bad = ~np.isfinite(host)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{owner}(y=...): {int(bad.sum())} non-finite value(s) (NaN or inf), the "
                f"first at index {first}; drop or impute them before fitting."
            )
        self._check_support(host)
        return jnp.asarray(host, dtype=jnp.result_type(float))

    # ----------------------------------------------------------------------------------
    # parameters
    @property
    def params(self) -> dict[str, jax.Array]:
        """The learnable positive parameters by name (empty if there are none)."""
        return {n: getattr(self, n) for n in self._param_names}

    def to_unconstrained(self) -> dict[str, jax.Array]:
        """Return ``{"log_<name>": log value}`` for each learnable parameter."""
        return {f"log_{n}": jnp.log(getattr(self, n)) for n in self._param_names}

    def from_unconstrained(self, params: dict[str, jax.ArrayLike]) -> Self:
        """A copy of this likelihood (same static settings) with ``exp`` of the log-parameters.

        Works under ``jit``/``grad``: a fit keeps ``to_unconstrained()`` as optimiser state and
        rebuilds the likelihood inside the loss.
        """
        params = check_unconstrained(type(self).__name__, params, self._param_names)
        leaves = [jnp.exp(jnp.asarray(params[f"log_{n}"])) for n in self._param_names]
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(self), leaves)
