r"""``AutoSIC``: the sparse inverse-Cholesky (SIC) variational family for a latent GP site.

.. math::
    q(f, \theta) = \mathcal N\big(f;\ \nu,\ (VV^\top)^{-1}\big) \prod_k
        \mathcal N\big(T_k^{-1}(\theta_k);\ m_k, s_k^2\big)\,\big|\det \partial T_k^{-1}\big|,

with V upper triangular on the maximin pattern of the prior :class:`~probapprox.gp.VecchiaGP`
(parameters ``{site}_{prefix}_nu`` (n,), ``_offdiag`` (n, m), ``_log_diag`` (n,) in maximin
order, :math:`V_{jj} = e^{\text{log\_diag}_j} + 10^{-4}`; f's draws and densities in X's
order), started at the prior (ν = μ, V = U at the model's initial hyperparameters). Every
other latent site θ_k (a lengthscale, a mean, a noise scale) gets NumPyro's ``AutoNormal``
treatment (``{name}_{prefix}_loc`` / ``_scale``), so a whole GP model is one guide that
``pa.fit``, ``result.save`` / ``pa.load`` and the diagnostics handle. ``log q(f)`` is exact
(``families.sic_gaussian.log_prob``, a sparse gather), so any NumPyro ELBO works; ``pa.fit``
uses :class:`~probapprox.estimators.PathELBO`, whose gradient noise vanishes at the exact
posterior (reached by the family on the dense pattern for a Gaussian likelihood).

The guide also works as one part of ``AutoGuideList`` (see :class:`AutoSIC`); such a list
cannot be saved. ``get_config`` stores the pattern's arrays as plain data
(:mod:`probapprox.guides._sic_pattern`), so a loaded fit samples without the model's data.

Reference:
    Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), "Variational sparse inverse Cholesky
    approximation for latent Gaussian processes via double Kullback-Leibler minimization",
    ICML; Schäfer, Katzfuss, Owhadi (2021), SIAM J. Sci. Comput. 43(3).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import optax
from numpyro import handlers
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from numpyro.infer.autoguide import AutoNormal
from numpyro.infer.initialization import init_to_median
from numpyro.infer.util import helpful_support_errors
from numpyro.optim import optax_to_numpyro

from probapprox._checks import check_int, check_positive
from probapprox.families import sic_gaussian as sic
from probapprox.gp import VecchiaGP
from probapprox.guides._registry import register_guide
from probapprox.guides._sic_dist import SICNormal
from probapprox.guides._sic_pattern import as_pattern, pattern_to_data, resolve_pattern
from probapprox.ordering import Pattern

__all__ = ["AutoSIC"]

_OWNER = "AutoSIC"
_FIELDS = ("nu", "offdiag", "log_diag")


def _is_real_vector(support: constraints.Constraint) -> bool:
    return (
        isinstance(support, constraints.independent)
        and isinstance(support.base_constraint, type(constraints.real))
        and support.reinterpreted_batch_ndims == 1
    )


@register_guide
class AutoSIC(AutoNormal):
    """SIC Gaussian guide for one latent GP site, mean-field Normal for the other sites.

    Args:
        model: a NumPyro model whose site ``site`` is a real vector of length n indexed like
            the inputs, typically ``numpyro.sample("f", pa.gp.VecchiaGP(kernel, X, pattern))``.
        site: name of the latent GP site.
        pattern: the :class:`~probapprox.ordering.Pattern` of q. Default: the prior's (the site
            must then be a ``VecchiaGP``); if given for a ``VecchiaGP`` site it must be the
            prior's. For another real-vector site (e.g. a dense ``MultivariateNormal``) pass
            ``build_pattern(X, ...)``; q then starts at ``N(init_loc, init_scale² I)``.
        prefix: parameter name prefix.
        init_loc_fn: initial values of the other sites (and of a non-``VecchiaGP`` site);
            ``init_to_median`` by default so the prior factor starts at sensible
            hyperparameters (NumPyro's autoguides use ``init_to_uniform``).
        init_scale: initial scale of the mean-field part (and of a non-``VecchiaGP`` site).
        num_particles: draws per step of the default estimator (``pa.fit``).
        learning_rate: initial Adam step of ``pa.fit``'s default optimiser (cosine decay to
            1 %). 5e-2, above the library's 2e-2: V's entries are of the size of the prior
            factor's, and a GP posterior is reached in a few thousand steps.

    Example:
        >>> pattern = pa.ordering.build_pattern(X, lengthscale=0.3, rho=3.0)  # doctest: +SKIP
        >>> def model(X, y=None):  # doctest: +SKIP
        ...     ls = numpyro.sample("ls", dist.LogNormal(-1.0, 0.5))
        ...     c = numpyro.sample("c", dist.Normal(0.0, 1.0))
        ...     f = numpyro.sample("f", pa.gp.VecchiaGP(pa.gp.Matern32(ls), X, pattern, mean=c))
        ...     numpyro.sample("y", dist.Bernoulli(logits=f), obs=y)
        >>> result = pa.fit(model, AutoSIC(model, site="f"), X, y)  # doctest: +SKIP
        >>> result.sample(1000)["f"].shape  # (1000, n), X's order  # doctest: +SKIP
        >>> # or SIC on f only and any autoguide on the rest (a list cannot be saved):
        >>> from numpyro.handlers import block, seed  # doctest: +SKIP
        >>> from numpyro.infer.autoguide import AutoGuideList, AutoDelta  # doctest: +SKIP
        >>> guide = AutoGuideList(model)  # doctest: +SKIP
        >>> guide.append(AutoSIC(block(seed(model, 0), expose=["f"])))  # doctest: +SKIP
        >>> guide.append(AutoDelta(block(seed(model, 1), hide=["f"])))  # doctest: +SKIP

    """

    def __init__(
        self,
        model: Callable,
        *,
        site: str = "f",
        pattern: Pattern | dict | None = None,
        prefix: str = "auto",
        init_loc_fn: Callable = init_to_median,
        init_scale: float = 0.1,
        num_particles: int = 1,
        learning_rate: float = 5e-2,
    ) -> None:
        if not isinstance(site, str) or not site:
            raise TypeError(f"{_OWNER}(site=...) expects the name of a sample site; got {site!r}.")
        self.site = site
        self._pattern = as_pattern(_OWNER, pattern)
        self.num_particles = check_int(_OWNER, "num_particles", num_particles)
        self.learning_rate = check_positive(_OWNER, "learning_rate", learning_rate)
        init_scale = check_positive(_OWNER, "init_scale", init_scale)
        if init_scale >= 1.0 / sic.DIAG_FLOOR:
            raise ValueError(f"{_OWNER}(init_scale=...) must be < {1.0 / sic.DIAG_FLOOR:g}.")
        self._sic_init: sic.SICParams | None = None
        super().__init__(model, prefix=prefix, init_loc_fn=init_loc_fn, init_scale=init_scale)

    # ------------------------------------------------------------------------------------
    @property
    def pattern(self) -> Pattern:
        """The pattern of q (known after the guide is set up, or when given)."""
        if self._pattern is None:
            raise RuntimeError(
                f"{_OWNER}: the pattern comes from the model's VecchiaGP site; fit the guide (or "
                "call it once under numpyro.handlers.seed) first, or pass pattern=..."
            )
        return self._pattern

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments for :func:`probapprox.load`, with the pattern as plain data."""
        return {
            "site": self.site,
            "pattern": pattern_to_data(self.pattern),
            "prefix": self.prefix,
            "init_scale": self._init_scale,
            "num_particles": self.num_particles,
            "learning_rate": self.learning_rate,
        }

    def default_loss(self) -> Any:
        """Sticking-the-landing :class:`~probapprox.estimators.PathELBO` (``num_particles``)."""
        from probapprox.estimators import PathELBO

        return PathELBO(self.num_particles)

    def default_optimizer(self, num_steps: int) -> Any:
        """Adam, step ``learning_rate`` decayed (cosine) to 1 % over the run."""
        schedule = optax.cosine_decay_schedule(self.learning_rate, max(num_steps, 1), alpha=1e-2)
        return optax_to_numpyro(optax.adam(schedule))

    def _param_name(self, name: str, field: str) -> str:
        return f"{name}_{self.prefix}_{field}"

    # ------------------------------------------------------------------------------------
    def _gp_site(self) -> dict:
        proto = self.prototype_trace
        latent = [n for n, s in proto.items() if s["type"] == "sample" and not s["is_observed"]]
        if self.site not in latent:
            raise ValueError(
                f"{_OWNER}(site={self.site!r}): the model has no latent sample site "
                f"{self.site!r}; its latent sites are {latent}."
            )
        s = self.prototype_trace[self.site]
        fn, shape = s["fn"], jnp.shape(s["value"])
        if not _is_real_vector(fn.support) or len(shape) != 1 or fn.batch_shape != ():
            raise ValueError(
                f"{_OWNER}(site={self.site!r}): the site must be an unconstrained real vector "
                f"with event shape (n,) and no batch shape (e.g. a pa.gp.VecchiaGP); got "
                f"{type(fn).__name__} with batch shape {fn.batch_shape}, event shape "
                f"{fn.event_shape} and support {fn.support}."
            )
        return s

    def _prior_at_init(self, *args: Any, **kwargs: Any) -> Any:
        """The site's distribution with the other sites at their initial values."""
        values = self._postprocess_fn(self._init_locs)
        seeded = handlers.seed(self.model, 0)
        with handlers.block():
            tr = handlers.trace(handlers.substitute(seeded, data=values)).get_trace(*args, **kwargs)
        return tr[self.site]["fn"]

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        site = self._gp_site()
        n = jnp.shape(site["value"])[0]
        prior = site["fn"]
        if isinstance(prior, VecchiaGP):
            prior = self._prior_at_init(*args, **kwargs)
        self._pattern = resolve_pattern(_OWNER, self.site, self._pattern, prior, n)
        idx = self._pattern.idx
        if isinstance(prior, VecchiaGP):
            init = sic.init_from_prior(prior.precision_values, idx)
            self._sic_init = init._replace(nu=jnp.asarray(prior.ordered_mean))
        else:
            loc = jnp.asarray(self._init_locs[self.site])[self._pattern.perm]
            diag = jnp.log(1.0 / self._init_scale - sic.DIAG_FLOOR)
            self._sic_init = sic.SICParams(
                loc, jnp.zeros(idx.shape, loc.dtype), jnp.full((n,), diag, loc.dtype)
            )

    # ------------------------------------------------------------------------------------
    def _posterior(self, lookup: Callable[[str, jax.Array], jax.Array]) -> SICNormal:
        values = {f: lookup(self._param_name(self.site, f), v) for f, v in
                  zip(_FIELDS, self._sic_init, strict=True)}  # fmt: skip
        return SICNormal(values["nu"], values["offdiag"], values["log_diag"], self.pattern)

    def get_posterior(self, params: dict) -> SICNormal:
        """``q(f)`` of the GP site from fitted ``params`` (``mean``, ``variance``, ``sample``)."""
        if self._sic_init is None:
            raise RuntimeError(
                f"{_OWNER} has not been initialised: fit it (or call the guide once under "
                "numpyro.handlers.seed) before asking for its posterior."
            )
        return self._posterior(lambda name, _: params[name])

    def _normal_site(self, name: str, site: dict, plates: dict) -> jax.Array:
        """AutoNormal's draw for one non-GP site."""
        event_dim, init_loc = self._event_dims[name], self._init_locs[name]
        with ExitStack() as stack:
            for frame in site["cond_indep_stack"]:
                stack.enter_context(plates[frame.name])
            loc = numpyro.param(self._param_name(name, "loc"), init_loc, event_dim=event_dim)
            scale = numpyro.param(
                self._param_name(name, "scale"),
                jnp.full(jnp.shape(init_loc), self._init_scale),
                constraint=self.scale_constraint,
                event_dim=event_dim,
            )
            fn = dist.Normal(loc, scale).to_event(event_dim)
            with helpful_support_errors(site):
                transform = biject_to(site["fn"].support)
            return numpyro.sample(name, dist.TransformedDistribution(fn, transform))

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, jax.Array]:
        """Sample every latent site: q(f) for the GP site, Normals for the others."""
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        result = {}
        for name, site in self.prototype_trace.items():
            if site["type"] != "sample" or site["is_observed"]:
                continue
            if name == self.site:
                result[name] = numpyro.sample(name, self._posterior(numpyro.param))
            else:
                result[name] = self._normal_site(name, site, plates)
        return result

    # ------------------------------------------------------------------------------------
    def _normals(self, params: dict) -> tuple[dict, dict]:
        others = [k for k in self._init_locs if k != self.site]
        locs = {k: params[self._param_name(k, "loc")] for k in others}
        return locs, {k: params[self._param_name(k, "scale")] for k in locs}

    def sample_posterior(
        self, rng_key: jax.Array, params: dict, *args: Any, sample_shape: tuple = (), **kwargs: Any
    ) -> dict[str, jax.Array]:
        """Constrained draws of every latent site (and deterministic sites), f in X's order."""
        key_f, key_rest = jax.random.split(rng_key)
        locs, scales = self._normals(params)
        latent = {self.site: self.get_posterior(params).sample(key_f, tuple(sample_shape))}
        with handlers.seed(rng_seed=key_rest):
            for k in locs:
                latent[k] = numpyro.sample(
                    k, dist.Normal(locs[k], scales[k]).expand_by(sample_shape)
                )
        return self._constrain(latent)

    def median(self, params: dict) -> dict[str, jax.Array]:
        """Posterior medians: ``ν`` (X's order) for f, the constrained locs for the others."""
        locs, _ = self._normals(params)
        return self._constrain({self.site: self.get_posterior(params).mean, **locs})

    def quantiles(self, params: dict, quantiles: Any) -> dict[str, jax.Array]:
        """Marginal quantiles; f's use the marginal variances of :meth:`SICNormal.variance`."""
        q = jnp.asarray(quantiles)
        locs, scales = self._normals(params)
        post = self.get_posterior(params)
        latent = {self.site: dist.Normal(post.mean, jnp.sqrt(post.variance)).icdf(q[..., None])}
        for k in locs:
            latent[k] = dist.Normal(locs[k], scales[k]).icdf(
                q.reshape(q.shape + (1,) * jnp.ndim(locs[k]))
            )
        return self._constrain(latent)
