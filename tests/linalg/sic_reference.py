"""Brute-force references shared by the linalg and SIC-family tests (no probapprox.ordering)."""

import jax.numpy as jnp
import numpy as np


def matern32(X1, X2, ell, var=1.0):
    """Matérn-3/2 with a zero-safe distance (finite gradients at r = 0)."""
    d2 = jnp.sum((X1[:, None, :] - X2[None, :, :]) ** 2, axis=-1) / ell**2
    pos = d2 > 0
    r = jnp.sqrt(3.0) * jnp.where(pos, jnp.sqrt(jnp.where(pos, d2, 1.0)), 0.0)
    return var * (1.0 + r) * jnp.exp(-r)


def maximin(X):
    """Brute-force maximin order (start at point 0) and distances ell_j (ell_0 := ell_1)."""
    dist = np.linalg.norm(X[:, None] - X[None], axis=-1)
    order, mind, ell = [0], dist[0].copy(), [np.inf]
    for _ in range(len(X) - 1):
        mind[order] = -1.0
        nxt = int(np.argmax(mind))
        order.append(nxt)
        ell.append(mind[nxt])
        mind = np.minimum(mind, dist[nxt])
    ell[0] = ell[1]
    return np.array(order), np.array(ell)


def pad_rows(sets):
    """Padded format: each row ascending, front-padded with -1."""
    width = max(len(s) for s in sets)
    idx = np.full((len(sets), width), -1, dtype=np.int32)
    for j, s in enumerate(sets):
        row = sorted(s)
        idx[j, width - len(row) :] = row
    return idx


def rho_sets(Xo, ell, rho):
    """Pattern S_j (radius rho ell_j) and reduced ancestors A_j (radius rho ell_i)."""
    dist = np.linalg.norm(Xo[:, None] - Xo[None], axis=-1)
    n = len(Xo)
    s = [{i for i in range(j + 1) if dist[i, j] <= rho * ell[j]} for j in range(n)]
    a = [{i for i in range(j + 1) if dist[i, j] <= rho * ell[i]} for j in range(n)]
    return s, a
