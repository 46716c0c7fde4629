"""O(n^2) brute-force references for probapprox.ordering (independent, loop-based).

Distances sum squared coordinate differences in coordinate order (0, 1, ...), the rounding
order the library documents, so results (ties included) must match exactly.
"""

import numpy as np


def bdist(a, b):
    diff = np.asarray(a, float) - np.asarray(b, float)
    acc = diff[..., 0] * diff[..., 0]
    for k in range(1, diff.shape[-1]):
        acc = acc + diff[..., k] * diff[..., k]
    return np.sqrt(acc)


def scale(X, lengthscale=None):
    X = np.asarray(X, float)
    return (
        X
        if lengthscale is None
        else X / np.broadcast_to(np.asarray(lengthscale, float), X.shape[1:])
    )


def brute_maximin(X, lengthscale=None):
    """Greedy maximin one point at a time; ties -> lowest index; start nearest the mean."""
    xt = scale(X, lengthscale)
    n = len(xt)
    if n == 1:
        return np.array([0]), np.array([np.inf])
    first = int(np.argmin(bdist(xt, xt.mean(axis=0))))
    perm, ell = [first], [np.nan]
    d = bdist(xt, xt[first])
    done = np.zeros(n, bool)
    done[first] = True
    for _ in range(n - 1):
        cand = np.where(done, -np.inf, d)
        p = int(np.argmax(cand))  # first maximal index
        perm.append(p)
        ell.append(d[p])
        done[p] = True
        d = np.minimum(d, bdist(xt, xt[p]))
    ell[0] = ell[1]
    return np.array(perm), np.array(ell)


def brute_after(X_prev, X_new, lengthscale=None):
    xp, xn = scale(X_prev, lengthscale), scale(X_new, lengthscale)
    d = np.array([bdist(xp, x).min() for x in xn])
    done = np.zeros(len(xn), bool)
    perm, ell = [], []
    for _ in range(len(xn)):
        p = int(np.argmax(np.where(done, -np.inf, d)))
        perm.append(p)
        ell.append(d[p])
        done[p] = True
        d = np.minimum(d, bdist(xn, xn[p]))
    return np.array(perm), np.array(ell)


def padded(sets):
    """List of sets (row j contains j) -> padded int array (ascending, -1 in front)."""
    width = max(len(s) for s in sets)
    out = np.full((len(sets), width), -1)
    for j, s in enumerate(sets):
        row = sorted(s)
        out[j, width - len(row) :] = row
    return out


def dmat(xt):
    """All pairwise distances (elementwise the same arithmetic as bdist)."""
    return bdist(xt[:, None, :], xt[None, :, :])


def _nearest(D, j, members, k):
    """The k members nearest to point j by (distance, index)."""
    members = np.array(sorted(members), dtype=int)
    if k <= 0 or members.size == 0:
        return []
    order = np.lexsort((members, D[j, members]))
    return members[order[:k]].tolist()


def brute_rho(xo, ell, rho, lengthscale=None, max_neighbors=None):
    D = dmat(scale(xo, lengthscale))
    sets = []
    for j in range(len(D)):
        s = [i for i in range(j + 1) if D[i, j] <= rho * ell[j]]
        if max_neighbors is not None:
            s = [j] + _nearest(D, j, [i for i in s if i != j], max_neighbors - 1)
        sets.append(set(s))
    return sets


def brute_knn(xo, m, lengthscale=None):
    D = dmat(scale(xo, lengthscale))
    return [set([j] + _nearest(D, j, range(j), m - 1)) for j in range(len(D))]


def brute_anc(xo, ell, rho, lengthscale=None, cap=None):
    D = dmat(scale(xo, lengthscale))
    sets = []
    for j in range(len(D)):
        a = [i for i in range(j + 1) if D[i, j] <= rho * ell[i]]
        if cap is not None and len(a) > cap:
            s = [i for i in a if D[i, j] <= rho * ell[j]]
            others = _nearest(D, j, [i for i in a if i not in s], cap - len(s))
            a = s + others
        sets.append(set(a))
    return sets


def brute_hops(xo, S, hops=2, lengthscale=None, cap=None):
    D = dmat(scale(xo, lengthscale))
    A = [set(s) for s in S]
    for _ in range(hops - 1):
        A = [a.union(*(S[i] for i in a)) for a in A]
    if cap is not None:
        m = max(len(s) for s in S)
        A = [{j, *_nearest(D, j, a - {j}, max(cap, m) - 1)} for j, a in enumerate(A)]
    return A
