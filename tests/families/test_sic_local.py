"""Minibatch column terms from gathered rows equal the global ones, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np

from probapprox.families.sic_gaussian import SICParams, column_terms
from probapprox.families.sic_local import gather_rows, local_column_terms, touched_rows
from probapprox.linalg import columns_for
from tests.linalg.sic_reference import matern32, maximin, pad_rows, rho_sets

N = 60
RNG = np.random.default_rng(0)
X0 = RNG.random((N, 2))
ORDER, ELL = maximin(X0)
XO = jnp.asarray(X0[ORDER])
S, A = rho_sets(X0[ORDER], ELL, 2.0)
IDX, ANC = jnp.asarray(pad_rows(S)), jnp.asarray(pad_rows(A))
M = IDX.shape[1]
KERNEL = lambda a, b: matern32(a, b, 0.3)  # noqa: E731
PARAMS = SICParams(
    jnp.asarray(RNG.normal(size=N)),
    jnp.asarray(0.3 * RNG.normal(size=(N, M))),
    jnp.asarray(0.2 * RNG.normal(size=N)),
)
COLS = jnp.asarray([3, 17, 17 + 1, 40, 59, 0], dtype=jnp.int32)
MU = jnp.asarray(RNG.normal(size=N))


def _global(params, cols):
    u = columns_for(KERNEL, XO, IDX, 1e-4, cols)
    t = column_terms(params, u, IDX, ANC, cols, MU)
    return t.mean, t.var, t.kl


def _local(params, cols):
    rs = touched_rows(ANC, cols)
    local = gather_rows(params, rs.rows)
    u = columns_for(KERNEL, XO, IDX, 1e-4, cols)
    return local_column_terms(local, rs, IDX, ANC, cols, u, MU, 1e-4)


def test_touched_rows_is_the_union_of_the_ancestor_sets():
    rs = touched_rows(ANC, COLS)
    anc = np.asarray(ANC)[np.asarray(COLS)]
    want = np.unique(anc[anc >= 0])
    rows = np.asarray(rs.rows)
    np.testing.assert_array_equal(rows[rows < N], want)
    assert np.all(rows[len(want) :] == N)
    back = np.where(anc >= 0, rows[np.asarray(rs.inv)], -1)
    np.testing.assert_array_equal(back, anc)


def test_local_terms_equal_global_terms():
    for a, b in zip(_local(PARAMS, COLS), _global(PARAMS, COLS), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_gradient_through_gathered_rows_equals_the_global_gradient():
    def total(terms):
        mean, var, kl = terms
        return jnp.sum(jnp.sin(mean) + jnp.log(var) - kl)

    g_global = jax.grad(lambda p: total(_global(p, COLS)))(PARAMS)
    rs = touched_rows(ANC, COLS)
    u = columns_for(KERNEL, XO, IDX, 1e-4, COLS)
    g_local = jax.grad(lambda loc: total(local_column_terms(loc, rs, IDX, ANC, COLS, u, MU, 1e-4)))(
        gather_rows(PARAMS, rs.rows)
    )
    for gg, gl in zip(g_global, g_local, strict=True):
        scattered = jnp.zeros_like(gg).at[rs.rows].add(gl, mode="drop")
        np.testing.assert_allclose(scattered, gg, rtol=1e-10, atol=1e-12)
        untouched = np.setdiff1d(np.arange(N), np.asarray(rs.rows))
        assert np.all(np.asarray(gg)[untouched] == 0)  # nothing outside the gathered rows
