r"""Curvature of the summed negative log-likelihood at the MAP, accumulated over data batches.

With per-example logits :math:`f_n(\theta)`, Jacobians :math:`J_n = \partial f_n/\partial\theta`
(:math:`C \times P`) and the likelihood factors :math:`\Lambda_n = V_n^\top V_n` of
:mod:`probapprox.laplace._nll_derivatives`:

* ``ggn``: :math:`G = \sum_n J_n^\top \Lambda_n J_n = \sum_n (V_n J_n)^\top (V_n J_n)`;
* ``ef`` (empirical Fisher): :math:`G = \sum_n g_n g_n^\top`, :math:`g_n = J_n^\top \nabla_z\ell_n`;
* ``hessian``: :math:`G = \nabla^2_\theta \sum_n \ell_n` (may be indefinite; clipped later).

Data are processed ``batch_size`` examples at a time in a :func:`jax.lax.scan`, so only a
``(batch_size, C, P)`` block of Jacobians exists at once. The last batch is padded with
masked rows. Reference: Daxberger et al. (2021), "Laplace Redux", NeurIPS; Martens (2020),
"New insights and perspectives on the natural gradient method", JMLR.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from probapprox.laplace._network import FlatModel, LastLayerLogits, batch_indices
from probapprox.laplace._nll_derivatives import hessian_sqrt, nll, residual

__all__ = ["CURVATURES", "map_summary", "dense_curvature", "curvature_matvec"]

CURVATURES = ("ggn", "hessian", "ef")


@functools.partial(jax.jit, static_argnums=(0,))
def _run(body: Callable, theta: Array, inputs: Array, labels: Array, idx: Array, mask: Array,
         init: Any, *extra: Any) -> Any:  # fmt: skip
    """Sum ``body(theta, xb, yb, mask, *extra)`` over padded batches in one :func:`lax.scan`.

    ``body`` is a hashable (frozen dataclass) so compiled code is reused across fits.
    """

    def step(carry: Any, im: tuple[Array, Array]) -> tuple[Any, None]:
        i, m = im
        out = body(theta, inputs[i], labels[i], m, *extra)
        return jax.tree_util.tree_map(jnp.add, carry, out), None

    return jax.lax.scan(step, init, (idx, mask))[0]


def _scan(
    model: FlatModel, y: Array, batch_size: int, body: Callable, init: Any, *extra: Any
) -> Any:
    idx, mask = batch_indices(y.shape[0], batch_size)
    mask = mask.astype(model.theta.dtype)
    return _run(body, model.theta, model.inputs, y, idx, mask, init, *extra)


def _per_example_jacobian(f: Callable, theta: Array, xb: Array) -> Array:
    def f1(th: Array, x: Array) -> Array:
        return f(th, x[None])[0]

    return jax.vmap(jax.jacrev(f1), in_axes=(None, 0))(theta, xb)


def _loss(f: Callable, likelihood: str, th: Array, xb: Array, yb: Array, m: Array) -> Array:
    return jnp.sum(m * nll(likelihood, f(th, xb), yb))


@dataclasses.dataclass(frozen=True)
class _Summary:
    f: Callable
    likelihood: str

    def __call__(self, th: Array, xb: Array, yb: Array, m: Array) -> tuple[Array, Array]:
        z = self.f(th, xb)
        bad = jnp.sum(m * jnp.sum(~jnp.isfinite(z), axis=-1))
        return jnp.sum(m * nll(self.likelihood, z, yb)), bad


def map_summary(
    model: FlatModel, y: Array, likelihood: str, batch_size: int
) -> tuple[Array, Array]:
    """Summed NLL at the MAP and the number of non-finite logits there."""
    zero = jnp.zeros((), model.theta.dtype)
    return _scan(model, y, batch_size, _Summary(model.f, likelihood), (zero, zero))


@dataclasses.dataclass(frozen=True)
class _Dense:
    f: Callable
    likelihood: str
    curvature: str
    diag: bool

    def curv(self, th: Array, xb: Array, yb: Array, m: Array) -> Array:
        f, lik, p = self.f, self.likelihood, th.shape[0]
        loss = functools.partial(_loss, f, lik)
        if self.curvature == "hessian":
            if not self.diag:
                return jax.hessian(loss)(th, xb, yb, m)

            def hvp_entry(i: Array) -> Array:
                e = jax.nn.one_hot(i, p, dtype=th.dtype)
                return jax.jvp(lambda t: jax.grad(loss)(t, xb, yb, m), (th,), (e,))[1][i]

            return jax.lax.map(hvp_entry, jnp.arange(p), batch_size=min(p, 64))
        if isinstance(f, LastLayerLogits):
            return self.last_layer(th, xb, yb, m)
        jac = _per_example_jacobian(f, th, xb)  # (B, C, P)
        z = f(th, xb)
        if self.curvature == "ggn":
            rows = jnp.einsum("bkc,bcp->bkp", hessian_sqrt(lik, z), jac)
            rows = (rows * m[:, None, None]).reshape(-1, p)
        else:
            rows = jnp.einsum("bc,bcp->bp", residual(lik, z, yb) * m[:, None], jac)
        return jnp.sum(rows**2, axis=0) if self.diag else rows.T @ rows

    def last_layer(self, th: Array, xb: Array, yb: Array, m: Array) -> Array:
        r"""Last-layer curvature as a sum of Kronecker products (no Jacobian formed).

        :math:`J_n = \tilde\phi_n^\top \otimes I`, so :math:`G = \sum_n
        \tilde\phi_n\tilde\phi_n^\top \otimes \Lambda_n` (``ef``: :math:`r_n r_n^\top`):
        :math:`O(H^2C^2)` per example instead of the :math:`O(CP^2) = O(H^2C^3)` of
        :math:`(VJ)^\top(VJ)`; the row-major ``vec`` of :math:`[W; b^\top]` puts
        :math:`(h, c)` at :math:`hC + c`.
        """
        z = self.f(th, xb)
        phi = jnp.concatenate([xb, jnp.ones((xb.shape[0], 1), xb.dtype)], axis=1)
        if self.curvature == "ggn":
            v = hessian_sqrt(self.likelihood, z)
            lam = jnp.einsum("bkc,bkd->bcd", v, v)
        else:
            r = residual(self.likelihood, z, yb)
            lam = r[:, :, None] * r[:, None, :]
        lam = lam * m[:, None, None]
        if self.diag:
            return jnp.einsum("bh,bc->hc", phi**2, jnp.diagonal(lam, axis1=1, axis2=2)).ravel()
        p = th.shape[0]
        return jnp.einsum("bh,bg,bcd->hcgd", phi, phi, lam).reshape(p, p)

    def __call__(self, th: Array, xb: Array, yb: Array, m: Array) -> tuple[Array, Array, Array]:
        z = self.f(th, xb)
        bad = jnp.sum(m * jnp.sum(~jnp.isfinite(z), axis=-1))
        return self.curv(th, xb, yb, m), jnp.sum(m * nll(self.likelihood, z, yb)), bad


def dense_curvature(
    model: FlatModel, y: Array, likelihood: str, curvature: str, *, diag: bool, batch_size: int
) -> tuple[Array, Array, Array]:
    """Full ``(P, P)`` curvature (or its diagonal when ``diag``), summed NLL, count of bad logits.

    All exact; the NLL and the non-finite-logit count come from the same pass (one compile).
    The diagonal Hessian uses one Hessian-vector product per basis vector (:func:`lax.map`).
    """
    p, dt = model.theta.shape[0], model.theta.dtype
    zero = jnp.zeros((), dt)
    init = (jnp.zeros((p,) if diag else (p, p), dt), zero, zero)
    return _scan(model, y, batch_size, _Dense(model.f, likelihood, curvature, diag), init)


@dataclasses.dataclass(frozen=True)
class _Matvec:
    f: Callable
    likelihood: str
    curvature: str

    def __call__(self, th: Array, xb: Array, yb: Array, m: Array, mat: Array) -> Array:
        f, lik = self.f, self.likelihood
        if self.curvature == "ef":
            r = residual(lik, f(th, xb), yb) * m[:, None]
            g = jnp.einsum("bc,bcp->bp", r, _per_example_jacobian(f, th, xb))
            return g.T @ (g @ mat)
        if self.curvature == "hessian":
            loss = functools.partial(_loss, f, lik)

            def column(v: Array) -> Array:
                return jax.jvp(lambda t: jax.grad(loss)(t, xb, yb, m), (th,), (v,))[1]
        else:
            z, vjp = jax.vjp(lambda t: f(t, xb), th)
            vf = hessian_sqrt(lik, z)

            def column(v: Array) -> Array:
                u = jax.jvp(lambda t: f(t, xb), (th,), (v,))[1]
                return vjp(jnp.einsum("bkc,bkd,bd->bc", vf, vf, u) * m[:, None])[0]

        return jax.vmap(column, in_axes=1, out_axes=1)(mat)


def curvature_matvec(
    model: FlatModel, y: Array, likelihood: str, curvature: str, *, batch_size: int
) -> Callable[[Array], Array]:
    """Return ``M -> G @ M`` for a ``(P, m)`` matrix, by JVPs/VJPs, never forming ``G``."""
    body = _Matvec(model.f, likelihood, curvature)
    return lambda mat: _scan(model, y, batch_size, body, jnp.zeros_like(mat), mat)
