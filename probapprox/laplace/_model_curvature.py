r"""Curvature of a NumPyro model's potential in its flat unconstrained latent space.

The potential is :math:`U(u) = -\log p(x, T(u)) - \log|\det \partial T(u)|`, the negative log
joint density of the unconstrained latent :math:`u \in \mathbb R^D` (:math:`T` maps it to the
model's constrained sites). It splits into the likelihood of the observed sites and the rest
(priors and the Jacobian), :math:`U = \mathrm{NLL} + R`, and the curvatures are

* ``hessian``: :math:`\nabla^2 U` (exact, may be indefinite away from a mode);
* ``ggn``: :math:`J^\top \Lambda J + \nabla^2 R` with :math:`J = \partial f / \partial u` the
  Jacobian of the model's ``logits`` deterministic site :math:`f(u)` and :math:`\Lambda` the
  Hessian of the observed sites' NLL with respect to those logits (e.g.
  :math:`\operatorname{diag}(p) - pp^\top` per row for a categorical likelihood): the Hessian
  of :math:`U` with the logits linearised at :math:`u`;
* ``ef`` (empirical Fisher): :math:`G^\top G + \nabla^2 R`, with :math:`G` the Jacobian of the
  per-observation log-likelihoods.

Only products :math:`v \mapsto Cv` are built (one ``jvp`` and one ``vjp`` per product for the
GGN), so :math:`J` is never formed for all observations and classes at once; dense and diagonal
curvatures are assembled from blocks of products.

Reference: Martens (2020), "New insights and perspectives on the natural gradient method",
JMLR 21 (GGN); Daxberger et al. (2021), "Laplace Redux", NeurIPS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from numpyro import handlers
from numpyro.infer.util import constrain_fn, potential_energy

__all__ = ["MODEL_CURVATURES", "ModelCurvature", "model_curvature", "dense", "diagonal"]

MODEL_CURVATURES = ("hessian", "ggn", "ef")


class ModelCurvature(NamedTuple):
    """Curvature-vector products of a model's potential at a point.

    Attributes:
        matvec: ``v (D,) -> C v (D,)``.
        potential: :math:`U(u)`, the negative log joint of the unconstrained latent.
        likelihood_sites: Observed sites whose curvature the GGN / EF replaces.

    """

    matvec: Callable[[Array], Array]
    potential: Callable[[Array], Array]
    likelihood_sites: tuple[str, ...]


def _site_log_lik(site: dict) -> Array:
    """Per-element log-likelihood of an observed site (mask and scale applied)."""
    lp = site["fn"].log_prob(site["value"])
    if site.get("scale") is not None:
        lp = site["scale"] * lp
    return lp


def _trace(model: Callable, args: tuple, kwargs: dict, data: dict) -> Any:
    seeded = handlers.seed(model, jax.random.PRNGKey(0))
    return handlers.trace(handlers.substitute(seeded, data=data)).get_trace(*args, **kwargs)


def _observed_names(tr: Any) -> list[str]:
    return [n for n, s in tr.items() if s["type"] == "sample" and s["is_observed"]]


def model_curvature(
    model: Callable,
    args: tuple,
    kwargs: dict,
    unpack: Callable[[Array], dict],
    loc: Array,
    curvature: str,
    *,
    logits_site: str = "logits",
    owner: str = "AutoLaplace",
) -> ModelCurvature:
    """Build the curvature-vector product of ``curvature`` at ``loc``.

    Args:
        model: The NumPyro model.
        args: Its positional arguments (with the data).
        kwargs: Its keyword arguments.
        unpack: Flat unconstrained vector to the dict of unconstrained latent sites.
        loc: The point :math:`u` (normally the MAP), shape ``(D,)``.
        curvature: ``"hessian"``, ``"ggn"`` or ``"ef"``.
        logits_site: Name of the deterministic site holding the logits (``ggn`` only).
        owner: Name used in error messages.

    Raises:
        ValueError: unknown ``curvature``; no ``logits_site`` or no observed site that depends
            on it for ``ggn``; no observed sites for ``ef``.

    """
    if curvature not in MODEL_CURVATURES:
        raise ValueError(
            f"{owner}(curvature={curvature!r}) is not one of {', '.join(MODEL_CURVATURES)}."
        )

    def constrained(u: Array) -> dict:
        return constrain_fn(model, args, kwargs, unpack(u))

    def potential(u: Array) -> Array:
        return potential_energy(model, args, kwargs, unpack(u))

    def hvp(fn: Callable[[Array], Array], v: Array) -> Array:
        return jax.jvp(jax.grad(fn), (loc,), (v,))[1]

    tr0 = _trace(model, args, kwargs, constrained(loc))
    observed = _observed_names(tr0)
    if curvature == "hessian":
        return ModelCurvature(lambda v: hvp(potential, v), potential, ())
    if not observed:
        raise ValueError(
            f"{owner}(curvature={curvature!r}) needs observed sites (the likelihood); the model "
            "has none. Pass obs=... to its likelihood, or use curvature='hessian'."
        )

    if curvature == "ef":

        def loglik_vec(u: Array) -> Array:
            tr = _trace(model, args, kwargs, constrained(u))
            return jnp.concatenate([jnp.ravel(_site_log_lik(tr[n])) for n in observed])

        def rest_ef(u: Array) -> Array:
            return potential(u) + jnp.sum(loglik_vec(u))

        _, g_vjp = jax.vjp(loglik_vec, loc)

        def ef_matvec(v: Array) -> Array:
            gv = jax.jvp(loglik_vec, (loc,), (v,))[1]
            return g_vjp(gv)[0] + hvp(rest_ef, v)

        return ModelCurvature(ef_matvec, potential, tuple(observed))

    if logits_site not in tr0 or tr0[logits_site]["type"] != "deterministic":
        raise ValueError(
            f"{owner}(curvature='ggn') needs the model to record its logits as a deterministic "
            f"site: logits = numpyro.deterministic({logits_site!r}, ...), then "
            f"numpyro.sample('y', dist.Categorical(logits=logits), obs=y) (or Bernoulli); no "
            f"deterministic site {logits_site!r} found. Name it with logits_site=... or use "
            "curvature='hessian'."
        )
    z0 = tr0[logits_site]["value"]

    def site_nll_of_logits(u: Array, z: Array, names: tuple[str, ...]) -> Array:
        data = dict(constrained(u))
        data[logits_site] = z
        tr = _trace(model, args, kwargs, data)
        return -sum(jnp.sum(_site_log_lik(tr[n])) for n in names)

    # the likelihood sites are the observed sites whose log-density depends on the logits
    sens = {
        n: float(jnp.max(jnp.abs(jax.grad(site_nll_of_logits, 1)(loc, z0, (n,))))) for n in observed
    }
    lik = tuple(n for n in observed if sens[n] > 0.0)
    if not lik:
        raise ValueError(
            f"{owner}(curvature='ggn'): no observed site depends on the deterministic site "
            f"{logits_site!r}; pass those logits to the likelihood, e.g. "
            "dist.Categorical(logits=logits), or use curvature='hessian'."
        )

    def logits_fn(u: Array) -> Array:
        return _trace(model, args, kwargs, constrained(u))[logits_site]["value"]

    def rest_ggn(u: Array) -> Array:
        tr = _trace(model, args, kwargs, constrained(u))
        return potential(u) + sum(jnp.sum(_site_log_lik(tr[n])) for n in lik)

    _, j_vjp = jax.vjp(logits_fn, loc)

    def lam_matvec(w: Array) -> Array:
        return jax.jvp(jax.grad(lambda z: site_nll_of_logits(loc, z, lik)), (z0,), (w,))[1]

    def ggn_matvec(v: Array) -> Array:
        jv = jax.jvp(logits_fn, (loc,), (v,))[1]
        return j_vjp(lam_matvec(jv))[0] + hvp(rest_ggn, v)

    return ModelCurvature(ggn_matvec, potential, lik)


def _blocks(dim: int, block: int) -> np.ndarray:
    """Identity columns in blocks of ``block``: shape ``(nb, block)`` of indices (padded by 0)."""
    nb = -(-dim // block)
    idx = np.arange(nb * block)
    return np.where(idx < dim, idx, 0).reshape(nb, block)


def dense(matvec: Callable[[Array], Array], dim: int, dtype: Any, *, block: int = 64) -> Array:
    """Assemble the symmetric ``(D, D)`` matrix ``C`` from products, ``block`` columns at a time."""
    cols = jnp.asarray(_blocks(dim, min(block, dim)))
    eye = jnp.eye(dim, dtype=dtype)
    out = jax.lax.map(lambda ib: jax.vmap(matvec)(eye[ib]), cols)
    c = out.reshape(-1, dim)[:dim]
    return 0.5 * (c + c.T)


def diagonal(matvec: Callable[[Array], Array], dim: int, dtype: Any, *, block: int = 64) -> Array:
    """The diagonal ``(D,)`` of ``C`` from products, keeping one entry per column (O(D) memory)."""
    cols = jnp.asarray(_blocks(dim, min(block, dim)))

    def one_block(ib: Array) -> Array:
        return jax.vmap(lambda i: matvec(jax.nn.one_hot(i, dim, dtype=dtype))[i])(ib)

    return jax.lax.map(one_block, cols).reshape(-1)[:dim]
