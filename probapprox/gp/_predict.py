r"""Predictions of a fitted SIC latent GP at new inputs, using the posterior correlations.

A test input :math:`x_*` conditions on its :math:`m_*` nearest training inputs c (in the
lengthscale-scaled metric) through the KL-optimal (Vecchia) prior column,
:math:`f_* \mid f_c \sim \mathcal N(\mu + b^\top(f_c-\mu),\ d)`,
:math:`b = \Theta_{cc}^{-1}\Theta_{c*}`, :math:`d = \Theta_{**} - \Theta_{*c}b`, the test
column that DKLGP appends after the training columns. Under
:math:`q(f) = \mathcal N(\nu, (VV^\top)^{-1})`:

.. math::
    \mathbb E[f_*] = \mu + b^\top(\nu_c - \mu), \qquad
    \mathrm{Var}[f_*] = d + \|V^{-1}\tilde b\|^2,

where :math:`\tilde b` is b placed at the rows c (:math:`\mathrm{Cov}_q = V^{-\top}V^{-1}`).
:math:`V^{-1}\tilde b` is supported on the ancestors of c in V's DAG; it is computed on the
block :math:`V_{AA}`, :math:`A = \bigcup_{i \in c} A_i` (the union of their ancestor
sets), which is exact when the training ancestor sets are (e.g. the dense pattern, with
:math:`m_* = n` giving the exact GP predictive of q). Each test point conditions on
training points only, so the marginals are those of the joint DKLGP prediction with the
test columns ordered last and not conditioned on one another.

Reference:
    Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), ICML, §3.4 (prediction);
    Katzfuss, Guinness, Gong, Zilber (2020), "Vecchia approximations of Gaussian-process
    predictions", JABES.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve
from scipy.spatial import cKDTree

from probapprox.linalg import solve_columns

__all__ = ["prediction_sets", "predict_latent"]


def prediction_sets(
    x_train: np.ndarray, x_new: np.ndarray, anc: np.ndarray, num_neighbors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Conditioning sets c and solve sets A for each new point (host side, scaled inputs).

    Returns:
        ``c (t, m*)`` and ``A (t, w)``, int32, rows ascending and front-padded with ``-1``.

    """
    k = min(int(num_neighbors), x_train.shape[0])
    _, near = cKDTree(x_train).query(x_new, k=k)
    c = np.sort(np.asarray(near, dtype=np.int64).reshape(len(x_new), k), axis=1)
    union = np.sort(anc[c].reshape(len(x_new), -1), axis=1)
    dup = np.zeros_like(union, dtype=bool)
    dup[:, 1:] = union[:, 1:] == union[:, :-1]
    union = np.where(dup | (union < 0), -1, union)
    union = np.sort(union, axis=1)
    width = int(max(1, (union >= 0).sum(axis=1).max()))
    return c.astype(np.int32), union[:, -width:].astype(np.int32)


@jax.jit
def predict_latent(
    kernel: Any,
    X: jax.Array,
    nu: jax.Array,
    v_vals: jax.Array,
    idx: jax.Array,
    x_new: jax.Array,
    c: jax.Array,
    A: jax.Array,
    mu: jax.Array,
    nugget: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Means and variances of :math:`f_*` for a batch (module docstring); ``(t,)`` each."""

    def one(xs: jax.Array, c_i: jax.Array, a_i: jax.Array) -> tuple[jax.Array, jax.Array]:
        valid = c_i >= 0
        safe = jnp.where(valid, c_i, 0)
        xc = X[safe]
        m = c_i.shape[0]
        eye = jnp.eye(m, dtype=X.dtype)
        k_cc = jnp.where(valid[:, None] & valid[None, :], kernel(xc, xc) + nugget * eye, eye)
        k_cs = jnp.where(valid, kernel(xc, xs[None, :])[:, 0], 0.0)
        chol = jnp.linalg.cholesky(k_cc)
        b = cho_solve((chol, True), k_cs)
        d = kernel.diag(xs[None, :])[0] + nugget - jnp.dot(k_cs, b)
        mean = mu + jnp.sum(jnp.where(valid, b * (nu[safe] - mu), 0.0))
        pos = jnp.clip(jnp.searchsorted(a_i, c_i, method="compare_all"), 0, a_i.shape[0] - 1)
        rhs = jnp.zeros(a_i.shape[0], X.dtype).at[pos].add(jnp.where(valid, b, 0.0))
        a_safe = jnp.where(a_i >= 0, a_i, 0)
        w = solve_columns(v_vals[a_safe], idx[a_safe], a_i, rhs)
        return mean, jnp.maximum(d, 0.0) + jnp.sum(w**2)

    return jax.vmap(one)(x_new, c, A)
