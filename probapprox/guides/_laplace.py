r"""``AutoLaplace``: a Laplace approximation of a NumPyro model as a guide.

During SVI the guide is a point mass at :math:`u` in the flat unconstrained latent space, so
the fit's steps move towards the MAP :math:`u_* = \arg\min_u U(u)` of the potential
:math:`U(u) = -\log p(x, T(u)) - \log|\det\partial T(u)|`; the MAP itself is then found by
the damped saddle-free Newton search of :mod:`probapprox.potential` (L-BFGS above
``dense_max``) from both the end of those steps and the guide's initial point, keeping the
lower potential (:meth:`AutoLaplace.find_map`, run by :meth:`post_fit`; first-order steps
alone stop far from the mode on badly scaled posteriors). Afterwards
(:meth:`AutoLaplace.laplace_params`, called by :func:`probapprox.fit` automatically) the
curvature :math:`C` of :math:`U` at :math:`u_*` gives the posterior

.. math::
    q(u) = \mathcal N\big(u_*,\ C_{\mathrm{clipped}}^{-1}\big), \qquad
    C \in \{\nabla^2 U,\ J^\top\Lambda J + \nabla^2 R,\ G^\top G + \nabla^2 R\}

(Hessian, GGN through the model's ``logits`` site, empirical Fisher; see
:mod:`probapprox.laplace._model_curvature`), stored as guide parameters, so sampling,
diagnostics, ArviZ export and save/load without the data all see the Gaussian. Eigenvalues
are floored by probapprox's one rule (:func:`probapprox.linalg.floor_eigenvalues`) and
counted (never a zero scale or NaN, unlike NumPyro's ``AutoLaplaceApproximation`` on a
singular Hessian).

Reference: MacKay (1992), "A practical Bayesian framework for backpropagation networks";
Daxberger et al. (2021), "Laplace Redux", NeurIPS.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import AffineTransform, LowerCholeskyAffine
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import AutoContinuous
from numpyro.infer.initialization import init_to_median
from numpyro.infer.util import potential_energy

from probapprox.guides._laplace_dist import LowRankPrecisionNormal
from probapprox.guides._registry import register_guide
from probapprox.laplace import (
    MODEL_CURVATURES,
    MODEL_STRUCTURES,
    diag_posterior,
    full_posterior,
    lowrank_posterior,
    model_curvature,
)
from probapprox.potential import lbfgs_map, newton_map

__all__ = ["AutoLaplace"]

_FACTORS = {"full": ("scale_tril",), "diag": ("scale",), "lowrank": ("evecs", "evals", "rest")}


@register_guide
class AutoLaplace(AutoContinuous):
    r"""Laplace approximation around the MAP with a choice of curvature and structure.

    Args:
        model: A NumPyro model with continuous latent sites.
        curvature: ``"hessian"`` (exact), ``"ggn"`` (generalised Gauss-Newton through the
            deterministic site ``logits_site``; PSD for log-concave likelihoods in the logits)
            or ``"ef"`` (empirical Fisher of the observed sites).
        structure: ``"full"``, ``"diag"`` or ``"lowrank"`` (top-``rank`` eigenpairs plus an
            isotropic rest). For Kronecker-factored (KFAC) curvature of a network use
            :func:`probapprox.laplace.fit_laplace`.
        rank: Rank for ``lowrank`` (default ``min(D, 20)``).
        logits_site: Deterministic site holding the logits, for ``ggn``.
        min_eigenvalue: Floor for curvature eigenvalues (default
            :math:`D\,\varepsilon\max|\lambda|`, see
            :func:`probapprox.linalg.floor_eigenvalues`); clipped ones are counted in
            ``num_clipped`` and warned about.
        dense_max: Largest latent dimension for the Newton MAP search (L-BFGS above).
        prefix: Prefix of the parameter names.
        init_loc_fn: Initialisation of the MAP search.
        seed: Seed of the randomised eigensolver and trace probes (``lowrank``).

    Example:
        >>> guide = AutoLaplace(model, curvature="ggn")  # doctest: +SKIP
        >>> result = probapprox.fit(model, guide, X, y, num_steps=2000)  # doctest: +SKIP
        >>> guide.quantiles(result.params, [0.05, 0.5, 0.95])  # doctest: +SKIP

    """

    def __init__(
        self,
        model: Callable,
        *,
        curvature: str = "hessian",
        structure: str = "full",
        rank: int | None = None,
        logits_site: str = "logits",
        min_eigenvalue: float | None = None,
        prefix: str = "auto",
        init_loc_fn: Callable = init_to_median,
        seed: int = 0,
        dense_max: int = 200,
    ) -> None:
        if curvature not in MODEL_CURVATURES:
            raise ValueError(
                f"AutoLaplace(curvature={curvature!r}) is not one of {', '.join(MODEL_CURVATURES)}."
            )
        if structure == "kron":
            raise ValueError(
                "AutoLaplace(structure='kron') needs the dense layers of a network; for a "
                "network given as apply_fn(params, x) use probapprox.laplace.fit_laplace("
                "..., structure='kron'). For a NumPyro model use 'full', 'diag' or 'lowrank'."
            )
        if structure not in MODEL_STRUCTURES:
            raise ValueError(
                f"AutoLaplace(structure={structure!r}) is not one of {', '.join(MODEL_STRUCTURES)}."
            )
        if rank is not None and (not isinstance(rank, int) or rank < 1):
            raise ValueError(f"AutoLaplace(rank={rank!r}) must be a positive integer.")
        if min_eigenvalue is not None and not min_eigenvalue > 0:
            raise ValueError(f"AutoLaplace(min_eigenvalue={min_eigenvalue!r}) must be > 0.")
        self.curvature, self.structure, self.rank = curvature, structure, rank
        self.logits_site, self.min_eigenvalue, self.seed = logits_site, min_eigenvalue, seed
        self.dense_max = int(dense_max)
        self.num_clipped: int | None = None
        self.map_info: dict[str, Any] = {}
        self._data: tuple[tuple, dict] | None = None
        super().__init__(model, prefix=prefix, init_loc_fn=init_loc_fn)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments for :func:`probapprox.load` (JSON-serialisable)."""
        return {
            "curvature": self.curvature,
            "structure": self.structure,
            "rank": self.rank,
            "logits_site": self.logits_site,
            "min_eigenvalue": self.min_eigenvalue,
            "prefix": self.prefix,
            "seed": self.seed,
            "dense_max": self.dense_max,
        }

    def default_loss(self) -> Trace_ELBO:
        """One-particle ``Trace_ELBO``: with a point mass it is the MAP objective."""
        return Trace_ELBO()

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        self._data = (args, kwargs)

    def _names(self) -> dict[str, str]:
        return {k: f"{self.prefix}_{k}" for k in _FACTORS[self.structure]}

    def _get_posterior(self) -> dist.Distribution:
        loc = numpyro.param(f"{self.prefix}_loc", self._init_latent)
        f = {k: numpyro.param(n, jnp.zeros((0,), loc.dtype)) for k, n in self._names().items()}
        if any(jnp.size(v) == 0 for v in f.values()):
            return dist.Delta(loc, event_dim=1)  # the MAP search, before laplace_params
        if self.structure == "full":
            return dist.MultivariateNormal(loc, scale_tril=f["scale_tril"])
        if self.structure == "diag":
            return dist.Normal(loc, f["scale"]).to_event(1)
        return LowRankPrecisionNormal(loc, f["evecs"], f["evals"], f["rest"])

    def has_laplace(self, params: dict) -> bool:
        """Whether ``params`` already hold the Laplace factors (else they are the MAP only)."""
        return all(jnp.size(params.get(n, jnp.zeros(0))) > 0 for n in self._names().values())

    def laplace_params(self, params: dict, *args: Any, **kwargs: Any) -> dict:
        """Return ``params`` with the Laplace factors at the MAP ``{prefix}_loc`` added.

        Args:
            params: Fitted parameters (at least ``{prefix}_loc``).
            *args: Model arguments with the data (default: those the guide was set up with).
            **kwargs: Model keyword arguments.

        Raises:
            ValueError: the MAP or the curvature is not finite (names the parameter).

        """
        if self.prototype_trace is None:
            raise ValueError("AutoLaplace.laplace_params: fit the guide (or call it) first.")
        if not args and not kwargs:
            args, kwargs = self._data
        loc = jnp.asarray(params[f"{self.prefix}_loc"])
        if not bool(jnp.all(jnp.isfinite(loc))):
            raise ValueError(f"AutoLaplace: the MAP '{self.prefix}_loc' is not finite: {loc}.")
        curv = model_curvature(
            self.model, args, kwargs, self._unpack_latent, loc, self.curvature,
            logits_site=self.logits_site,
        )  # fmt: skip
        dim, dtype = loc.shape[0], loc.dtype
        if self.structure == "full":
            factors, n = full_posterior(curv.matvec, dim, dtype, self.min_eigenvalue)
        elif self.structure == "diag":
            factors, n = diag_posterior(curv.matvec, dim, dtype, self.min_eigenvalue)
        else:
            factors, n = lowrank_posterior(
                curv.matvec, dim, dtype, self.min_eigenvalue,
                rank=self.rank or min(dim, 20), key=jax.random.PRNGKey(self.seed),
            )  # fmt: skip
        bad = [k for k, v in factors.items() if not bool(jnp.all(jnp.isfinite(v)))]
        if bad:
            raise ValueError(
                f"AutoLaplace: the {self.curvature} curvature at the MAP is not finite "
                f"(factor {bad[0]!r}); check that the model's log density and its derivatives "
                "are finite at the MAP (guide.median(params))."
            )
        self.num_clipped = n
        if n:
            warnings.warn(
                f"AutoLaplace: clipped {n} of {dim} {self.curvature} curvature eigenvalue(s) "
                "below the floor (min_eigenvalue): the log density is flat or not at a mode in "
                "those directions, so their posterior scale comes from the floor, not the data.",
                UserWarning,
                stacklevel=2,
            )
        out = dict(params)
        out.update({self._names()[k]: v for k, v in factors.items()})
        return out

    def find_map(self, params: dict, *args: Any, **kwargs: Any) -> dict:
        r"""Return ``params`` with ``{prefix}_loc`` moved to the Newton MAP of the potential.

        Searches from ``{prefix}_loc`` and from the guide's initial point in one ``vmap``-ed
        program (:func:`probapprox.potential.newton_map`, or
        :func:`~probapprox.potential.lbfgs_map` above ``dense_max``) and keeps the end with
        the lower finite potential; ``loc`` is kept when neither improves on it. What happened
        is stored in ``self.map_info`` (potential, Newton decrement, relative gradient norm
        :math:`\|\nabla U\|_\infty / \max(1, |U|)`).
        """
        if self.prototype_trace is None:
            raise ValueError("AutoLaplace.find_map: fit the guide (or call it) first.")
        if not args and not kwargs:
            args, kwargs = self._data
        name = f"{self.prefix}_loc"
        loc = jnp.asarray(params[name])
        model = self.model

        def u(z: jax.Array) -> jax.Array:
            return potential_energy(model, args, kwargs, self._unpack_latent(z))

        starts = jnp.stack([loc, jnp.asarray(self._init_latent, loc.dtype)])
        if loc.shape[0] <= self.dense_max:
            res = jax.jit(jax.vmap(lambda z: newton_map(u, z)))(starts)
            ends, values, dec = res.loc, res.value, res.decrement
        else:
            ends, values, _ = jax.jit(jax.vmap(lambda z: lbfgs_map(u, z)))(starts)
            dec = jnp.full(2, jnp.nan, loc.dtype)
        u0 = u(loc)
        values = jnp.where(jnp.isfinite(values), values, jnp.inf)
        k = int(jnp.argmin(values))
        out = dict(params)
        if bool(values[k] <= u0) or not bool(jnp.isfinite(u0)):
            out[name] = ends[k]
        z = out[name]
        f, g = jax.value_and_grad(u)(z)
        self.map_info = {
            "potential": float(f),
            "decrement": float(dec[k]),
            "relative_grad_norm": float(jnp.max(jnp.abs(g)) / jnp.maximum(1.0, jnp.abs(f))),
            "start": ("loc", "init")[k],
        }
        return out

    def post_fit(self, params: dict, *args: Any, **kwargs: Any) -> dict:
        """Hook run by :func:`probapprox.fit` after the steps: Newton MAP, then the factors."""
        return self.laplace_params(self.find_map(params, *args, **kwargs), *args, **kwargs)

    def whitener(self, flat: Any, *, dense_max: int) -> tuple[None, str]:
        """Hook of :func:`probapprox.fit`'s warm start: not whitened (see ``FitHooks``)."""
        del flat, dense_max
        return None, "AutoLaplace is itself a MAP + curvature method"

    def _ensure(self, params: dict) -> dict:
        return params if self.has_laplace(params) else self.laplace_params(params)

    def get_base_dist(self) -> dist.Distribution:
        """Standard normal on the flat unconstrained latent."""
        return dist.Normal(jnp.zeros(self.latent_dim), 1.0).to_event(1)

    def get_posterior(self, params: dict) -> dist.Distribution:
        """The Gaussian on the flat unconstrained latent (computes the factors if missing)."""
        params = self._ensure(params)
        return numpyro.handlers.substitute(self._get_posterior, params)()

    def get_transform(self, params: dict) -> Any:
        """Affine map from the base normal to the posterior (``full`` and ``diag``)."""
        params = self._ensure(params)
        loc, names = params[f"{self.prefix}_loc"], self._names()
        if self.structure == "full":
            return LowerCholeskyAffine(loc, params[names["scale_tril"]])
        if self.structure == "diag":
            return AffineTransform(loc, params[names["scale"]], domain=dist.constraints.real_vector)
        raise NotImplementedError(
            "AutoLaplace(structure='lowrank') has no triangular affine transform; use "
            "get_posterior(params) or sample_posterior(...)."
        )

    def sample_posterior(
        self, rng_key: jax.Array, params: dict, *args: Any, sample_shape: tuple = (), **kwargs: Any
    ) -> dict:
        """Draws of the model's latent sites (constrained) from the Laplace posterior."""
        params = self._ensure(params)
        latent = self.get_posterior(params).sample(rng_key, sample_shape)
        return self._unpack_and_constrain(latent, params)

    def median(self, params: dict) -> dict:
        """The MAP, constrained."""
        return self._unpack_and_constrain(params[f"{self.prefix}_loc"], params)

    def quantiles(self, params: dict, quantiles: Any) -> dict:
        """Marginal quantiles of each latent site (exact for element-wise constraints)."""
        post = self.get_posterior(self._ensure(params))
        sd = jnp.sqrt(post.variance)
        q = jnp.asarray(quantiles)[..., None]
        latent = dist.Normal(post.mean, sd).icdf(q)
        return self._unpack_and_constrain(latent, params)
