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

from probapprox.families.sic_gaussian import factor_values
from probapprox.gp._exact import predict_exact
from probapprox.linalg import PaddedFactor, solve_columns

__all__ = ["prediction_sets", "predict_latent", "predict_fitted"]


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
    v: PaddedFactor,
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
        w = solve_columns(v.values[a_safe], v.idx[a_safe], a_i, rhs)
        return mean, jnp.maximum(d, 0.0) + jnp.sum(w**2)

    return jax.vmap(one)(x_new, c, A)


def predict_fitted(
    st: Any,
    Xn: np.ndarray,
    mu: float,
    nugget: float,
    num_neighbors: int | None,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances of f at checked inputs ``Xn`` under a ``FittedGP``, by batches.

    Exact mode: the dense predictive of q (:func:`probapprox.gp._exact.predict_exact`).
    Sparse mode: each point conditions on its ``num_neighbors`` nearest training inputs
    (default: the pattern's widest row, at least 100, at most n; module docstring).
    """
    means, variances = [], []
    if st.exact is not None:
        for start in range(0, len(Xn), batch_size):
            xb = jnp.asarray(Xn[start : start + batch_size])
            mean, var = predict_exact(st.kernel, st.exact, xb, mu, nugget)
            means.append(np.asarray(mean))
            variances.append(np.asarray(var))
        return np.concatenate(means), np.concatenate(variances)
    d = st.data
    k = min(num_neighbors or max(100, st.pattern.max_neighbors), d.X.shape[0])
    scale = np.broadcast_to(np.asarray(st.kernel.lengthscale, np.float64), (Xn.shape[1],))
    x_train = np.asarray(d.X) / scale
    v = PaddedFactor(factor_values(st.params, d.idx), d.idx)
    for start in range(0, len(Xn), batch_size):
        xb = Xn[start : start + batch_size]
        c, A = prediction_sets(x_train, xb / scale, np.asarray(d.anc), k)
        mean, var = predict_latent(
            st.kernel, d.X, st.params.nu, v, jnp.asarray(xb), jnp.asarray(c), jnp.asarray(A),
            jnp.asarray(mu), jnp.asarray(nugget),
        )  # fmt: skip
        means.append(np.asarray(mean))
        variances.append(np.asarray(var))
    return np.concatenate(means), np.concatenate(variances)
