r"""Stationary covariance kernels with ARD lengthscales: Matérn-1/2, -3/2, -5/2 and RBF.

All four are functions of the scaled distance

.. math::
    r(x, x') = \Big\| \frac{x - x'}{\ell} \Big\|_2
             = \Big(\sum_{k=1}^{d} \frac{(x_k - x'_k)^2}{\ell_k^2}\Big)^{1/2},

with one lengthscale :math:`\ell` shared by all dimensions or one per dimension (ARD), and a
signal variance :math:`\sigma^2` (Rasmussen & Williams 2006, eqs. 4.9, 4.14, 4.16, 4.17):

.. math::
    k_{1/2} &= \sigma^2 e^{-r}, \\
    k_{3/2} &= \sigma^2 (1 + \sqrt3\, r)\, e^{-\sqrt3\, r}, \\
    k_{5/2} &= \sigma^2 \big(1 + \sqrt5\, r + \tfrac53 r^2\big)\, e^{-\sqrt5\, r}, \\
    k_{\mathrm{RBF}} &= \sigma^2 e^{-r^2/2}.

Numerics: :math:`r^2` is summed from coordinate differences (never from
:math:`\|x\|^2 + \|x'\|^2 - 2x^\top x'`, which cancels and can go negative), so
:math:`r^2 \ge 0`, ``K(X, X)`` has exactly ``σ²`` on its diagonal and is symmetric up to an
ulp or two (the compiled ``exp`` may round differently across a row); :math:`r` uses a
safe square root whose derivative at :math:`r^2 = 0` is taken as 0, so ``jax.grad`` is finite
at coincident inputs (for Matérn-1/2 that picks the zero subgradient of :math:`|x - x'|`).
The Gram matrix costs O(n1·n2·d) memory.

Reference:
    Rasmussen, C. E. & Williams, C. K. I. (2006), *Gaussian Processes for Machine
    Learning*, MIT Press, chapter 4 (§4.2, stationary covariance functions).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import jax
import jax.numpy as jnp

from probapprox.gp._params import Frozen, as_positive, check_unconstrained, register_frozen_pytree

__all__ = ["Kernel", "Matern12", "Matern32", "Matern52", "RBF"]

_SQRT3 = math.sqrt(3.0)
_SQRT5 = math.sqrt(5.0)


def _safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` for ``x >= 0`` with a finite (zero) derivative at ``x = 0``."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


class Kernel(Frozen):
    r"""Base class: a stationary kernel :math:`k(x, x') = \sigma^2 g(r^2)` with ARD lengthscale.

    Subclasses define ``_profile(r2)`` (the unit-variance kernel as a function of the squared
    scaled distance). Instances are frozen JAX pytrees whose leaves are ``lengthscale`` and
    ``variance``, so ``jax.grad`` of a loss with respect to the kernel returns a kernel of
    gradients.

    Args:
        lengthscale: ℓ > 0, a scalar (isotropic) or a ``(d,)`` array (ARD).
        variance: the signal variance σ² > 0 (a scalar).

    Raises:
        TypeError: if an argument is not numeric.
        ValueError: if an argument is not finite and positive, or has the wrong rank.

    """

    __slots__ = ("lengthscale", "variance")
    _param_names: ClassVar[tuple[str, ...]] = ("lengthscale", "variance")
    lengthscale: jax.Array
    variance: jax.Array

    def __init__(self, lengthscale: Any = 1.0, variance: Any = 1.0) -> None:
        name = type(self).__name__
        if type(self) is Kernel:
            raise TypeError("Kernel is abstract; use Matern12, Matern32, Matern52 or RBF.")
        object.__setattr__(
            self, "lengthscale", as_positive(name, "lengthscale", lengthscale, max_ndim=1)
        )
        object.__setattr__(self, "variance", as_positive(name, "variance", variance))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(lengthscale={self.lengthscale!r}, variance={self.variance!r})"
        )

    @staticmethod
    def _profile(r2: jax.Array) -> jax.Array:
        raise NotImplementedError

    # ----------------------------------------------------------------------------------
    # inputs
    def _as_inputs(self, X: jax.ArrayLike, name: str) -> jax.Array:
        X = jnp.asarray(X)
        X = X.astype(jnp.result_type(X, self.lengthscale))
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ValueError(
                f"{type(self).__name__}: {name} must have shape (n, d) or (n,); got {X.shape}."
            )
        if self.lengthscale.ndim == 1 and self.lengthscale.shape[0] != X.shape[1]:
            raise ValueError(
                f"{type(self).__name__}: {name} has d = {X.shape[1]} columns but the ARD "
                f"lengthscale has {self.lengthscale.shape[0]} entries; pass one lengthscale "
                f"per input column or a scalar."
            )
        return X

    @jax.jit
    def scaled(self, X: jax.ArrayLike) -> jax.Array:
        """Return the lengthscale-scaled inputs ``X / lengthscale``, shape ``(n, d)``.

        Euclidean distances between rows of the result are the scaled distances r; this is
        the space in which the maximin ordering and the sparsity pattern are built.
        """
        return self._as_inputs(X, "X") / self.lengthscale

    @jax.jit
    def squared_distance(self, X1: jax.ArrayLike, X2: jax.ArrayLike) -> jax.Array:
        """Squared scaled distances :math:`r^2`, shape ``(n1, n2)``, from coordinate differences."""
        A = self._as_inputs(X1, "X1") / self.lengthscale
        B = self._as_inputs(X2, "X2") / self.lengthscale
        if A.shape[1] != B.shape[1]:
            raise ValueError(
                f"{type(self).__name__}: X1 has {A.shape[1]} columns but X2 has {B.shape[1]}."
            )
        diff = A[:, None, :] - B[None, :, :]
        return jnp.sum(diff * diff, axis=-1)

    # ----------------------------------------------------------------------------------
    # evaluation
    @jax.jit
    def __call__(self, X1: jax.ArrayLike, X2: jax.ArrayLike) -> jax.Array:
        """Return the cross-covariance (Gram) matrix ``K[i, j] = k(X1[i], X2[j])``.

        Args:
            X1: inputs of shape ``(n1, d)`` (or ``(n1,)`` for d = 1).
            X2: inputs of shape ``(n2, d)`` (or ``(n2,)``).

        Returns:
            An ``(n1, n2)`` array.

        """
        return self.variance * self._profile(self.squared_distance(X1, X2))

    @jax.jit
    def diag(self, X: jax.ArrayLike) -> jax.Array:
        """Return ``k(X[i], X[i]) = σ²`` for each row, shape ``(n,)``."""
        X = self._as_inputs(X, "X")
        return jnp.broadcast_to(self.variance, (X.shape[0],)).astype(X.dtype)

    # ----------------------------------------------------------------------------------
    # parameters
    @property
    def params(self) -> dict[str, jax.Array]:
        """The positive parameters ``{"lengthscale": ℓ, "variance": σ²}``."""
        return {"lengthscale": self.lengthscale, "variance": self.variance}

    def to_unconstrained(self) -> dict[str, jax.Array]:
        """Return ``{"log_lengthscale": log ℓ, "log_variance": log σ²}`` for an optimiser."""
        return {f"log_{n}": jnp.log(getattr(self, n)) for n in self._param_names}

    @classmethod
    def from_unconstrained(cls, params: dict[str, jax.ArrayLike]) -> Self:
        """Inverse of :meth:`to_unconstrained`: exponentiate the log-parameters.

        Works under ``jit``/``grad`` (no value checks on traced inputs), so a fit can keep the
        unconstrained dict as its optimiser state and rebuild the kernel inside the loss.
        """
        params = check_unconstrained(cls.__name__, params, cls._param_names)
        return cls(
            lengthscale=jnp.exp(jnp.asarray(params["log_lengthscale"])),
            variance=jnp.exp(jnp.asarray(params["log_variance"])),
        )


register = register_frozen_pytree(("lengthscale", "variance"), ())


@register
class Matern12(Kernel):
    r"""Matérn ν = 1/2 (exponential / Ornstein–Uhlenbeck): :math:`k = \sigma^2 e^{-r}`.

    R&W (2006) eq. 4.16 with ν = 1/2; sample paths are continuous but nowhere differentiable.

    Example:
        >>> import jax.numpy as jnp
        >>> K = Matern12(lengthscale=2.0)(jnp.zeros((1, 1)), jnp.full((1, 1), 2.0))
        >>> round(float(K[0, 0]), 6)  # exp(-1)
        0.367879

    """

    __slots__ = ()

    @staticmethod
    def _profile(r2: jax.Array) -> jax.Array:
        return jnp.exp(-_safe_sqrt(r2))


@register
class Matern32(Kernel):
    r"""Matérn ν = 3/2: :math:`k = \sigma^2 (1 + \sqrt3 r) e^{-\sqrt3 r}` (R&W 2006, eq. 4.17).

    Once mean-square differentiable; the default kernel of DKLGP (Cao et al. 2023).
    """

    __slots__ = ()

    @staticmethod
    def _profile(r2: jax.Array) -> jax.Array:
        s = _SQRT3 * _safe_sqrt(r2)
        return (1.0 + s) * jnp.exp(-s)


@register
class Matern52(Kernel):
    r"""Matérn ν = 5/2: :math:`k = \sigma^2 (1 + \sqrt5 r + \frac53 r^2) e^{-\sqrt5 r}`.

    R&W (2006) eq. 4.17; twice mean-square differentiable.
    """

    __slots__ = ()

    @staticmethod
    def _profile(r2: jax.Array) -> jax.Array:
        s = _SQRT5 * _safe_sqrt(r2)
        return (1.0 + s + (5.0 / 3.0) * r2) * jnp.exp(-s)


@register
class RBF(Kernel):
    r"""Squared exponential: :math:`k = \sigma^2 e^{-r^2/2}` (R&W 2006, eq. 4.9).

    The ν → ∞ limit of the Matérn family; infinitely differentiable sample paths. Needs no
    square root, so its gradients are smooth everywhere.
    """

    __slots__ = ()

    @staticmethod
    def _profile(r2: jax.Array) -> jax.Array:
        return jnp.exp(-0.5 * r2)
