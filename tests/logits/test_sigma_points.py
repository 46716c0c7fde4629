"""predictive(method="sigma_points"): the point set, exactness, and accuracy against MC."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit, softmax

from probapprox import logits as pl
from probapprox.logits._sigma_points import sigma_points


def kl(p, q):
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def numpy_mc(mu, chol, n, seed):
    """E[softmax(μ + L ε)] per row from n independent draws (float64)."""
    rng = np.random.default_rng(seed)
    out = []
    for m, c in zip(mu, chol, strict=True):
        eps = rng.standard_normal((n, m.size))
        out.append(softmax(m + eps @ c.T, axis=-1).mean(0))
    return np.array(out)


def random_cov(rng, rows, c, scale, rank=None):
    a = rng.normal(size=(rows, c, rank or c))
    cov = a @ np.swapaxes(a, -1, -2) / (rank or c)
    return scale * cov + (0 if rank else 0.05 * scale * np.eye(c))


@pytest.mark.parametrize(("num_points", "dim"), [(512, 10), (64, 3), (8, 40), (7, 2)])
def test_point_set_is_symmetric_and_whitened(num_points, dim):
    eps = sigma_points(num_points, dim)
    n = max(num_points, 2 * dim) + max(num_points, 2 * dim) % 2
    assert eps.shape == (n, dim) and not eps.flags.writeable
    np.testing.assert_allclose(eps[: n // 2], -eps[n // 2 :])  # antithetic: odd moments vanish
    np.testing.assert_allclose(eps.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(eps.T @ eps / n, np.eye(dim), atol=1e-10)


def test_exact_for_cubic_polynomials():
    """The rule integrates z, z zᵀ and third moments exactly (the unscented guarantee)."""
    rng = np.random.default_rng(0)
    mu, cov = rng.normal(size=4), random_cov(rng, 1, 4, 1.0)[0]
    z = mu + sigma_points(64, 4) @ np.linalg.cholesky(cov).T
    np.testing.assert_allclose(z.mean(0), mu, atol=1e-12)
    np.testing.assert_allclose(np.einsum("ni,nj->ij", z - mu, z - mu) / len(z), cov, atol=1e-12)
    third = np.einsum("ni,nj,nk->ijk", z - mu, z - mu, z - mu) / len(z)
    np.testing.assert_allclose(third, 0.0, atol=1e-12)


def test_two_classes_against_exact_quadrature():
    """C = 2: p₁ = E[σ(z₁ − z₂)], a 1-D integral computed to 1e-12 by 200-point Gauss–Hermite."""
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(40, 2)) * 3
    cov = random_cov(rng, 40, 2, 1.0) * rng.choice([0.1, 3.0, 30.0], size=(40, 1, 1))
    m = mu[:, 0] - mu[:, 1]
    s = np.sqrt(cov[:, 0, 0] + cov[:, 1, 1] - 2 * cov[:, 0, 1])
    x, w = np.polynomial.hermite_e.hermegauss(200)
    p1 = (expit(m[:, None] + s[:, None] * x) * w).sum(-1) / w.sum()
    exact = np.stack([p1, 1 - p1], -1)
    got = np.asarray(pl.predictive(mu, cov, "sigma_points"))
    # C = 2 is a 1-D integral over 512 stratified points: far below MC-1000's ~1e-4
    assert kl(exact, got).mean() < 2e-5 and np.abs(got - exact).max() < 5e-3


@pytest.mark.parametrize(
    ("c", "scale", "rows", "bound"),
    [(10, 0.3, 30, 3e-5), (10, 5.0, 30, 6e-4), (100, 0.3, 4, 3e-5), (100, 3.0, 4, 1e-3)],
)
def test_against_large_mc(c, scale, rows, bound):
    """Mean KL from a 2·10⁵-draw reference (its own KL ≈ (C−1)/(4·10⁵)) below the bound,
    and at most that of 1000 independent draws (small and large logit variances)."""
    rng = np.random.default_rng(c + int(10 * scale))
    mu = rng.normal(size=(rows, c)) * 2.0
    cov = random_cov(rng, rows, c, scale)
    chol = np.linalg.cholesky(cov)
    ref = numpy_mc(mu, chol, 200_000, seed=2)
    mc1000 = numpy_mc(mu, chol, 1000, seed=3)
    got = np.asarray(pl.predictive(mu, cov, "sigma_points"))
    assert kl(ref, got).mean() < bound
    assert kl(ref, got).mean() < kl(ref, mc1000).mean()


@pytest.mark.parametrize(
    ("c", "rank", "scale", "rows", "bound"), [(5, 2, 1.0, 6, 1e-4), (100, 3, 3.0, 2, 1e-3)]
)
def test_singular_covariance_against_mc(c, rank, scale, rows, bound):
    """A rank-deficient Σ (the Cholesky jitter path; a last-layer logit covariance is often
    low-rank) and a shared 11ᵀ component (ignored by softmax): at least as close to a
    2·10⁵-draw reference as 1000 independent draws (the reference's own KL, about
    (C−1)/(4·10⁵), sets the bound at C = 100)."""
    rng = np.random.default_rng(4 + c)
    mu = rng.normal(size=(rows, c)) * 2.0
    a = rng.normal(size=(rows, c, rank)) * np.sqrt(scale)
    cov = a @ np.swapaxes(a, -1, -2)
    factor = np.concatenate([a, np.zeros((rows, c, c - rank))], -1)
    ref = numpy_mc(mu, factor, 200_000, seed=5)
    mc1000 = numpy_mc(mu, factor, 1000, seed=6)
    got = np.asarray(pl.predictive(mu, cov, "sigma_points"))
    assert np.isfinite(got).all() and kl(ref, got).mean() < bound
    assert kl(ref, got).mean() < kl(ref, mc1000).mean()
    shared = np.asarray(pl.predictive(mu, cov + 7.0, "sigma_points"))
    assert kl(ref, shared).mean() < bound


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_at_zero_covariance(dtype):
    rng = np.random.default_rng(6)
    mu = (rng.normal(size=(3, 7)) * 4).astype(dtype)
    plain = softmax(mu.astype(np.float64), axis=-1)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for cov in (np.zeros((3, 7), dtype), np.zeros((3, 7, 7), dtype)):
        got = pl.predictive(mu, cov, "sigma_points")
        assert got.dtype == dtype
        np.testing.assert_allclose(got, plain, rtol=rtol)


def test_diagonal_equals_full_diagonal_and_batches():
    rng = np.random.default_rng(7)
    mu = rng.normal(size=(2, 3, 4))
    var = rng.uniform(0.1, 4.0, (2, 3, 4))
    full = np.einsum("...i,ij->...ij", var, np.eye(4))
    p = pl.predictive(mu, var, "sigma_points", num_points=64)
    np.testing.assert_allclose(p, pl.predictive(mu, full, "sigma_points", num_points=64))
    np.testing.assert_allclose(pl.predictive(mu[1, 2], var[1, 2], "sigma_points", num_points=64),
                               p[1, 2], rtol=1e-12)  # fmt: skip
    jitted = jax.jit(lambda m, v: pl.predictive(m, v, "sigma_points", num_points=64))(mu, var)
    np.testing.assert_allclose(jitted, p, rtol=1e-12)
    assert np.isfinite(p).all() and (np.asarray(p) >= 0).all()
    np.testing.assert_allclose(jnp.sum(p, -1), 1.0, atol=1e-12)


def test_more_points_are_more_accurate():
    rng = np.random.default_rng(8)
    mu, cov = rng.normal(size=(20, 6)) * 2, random_cov(rng, 20, 6, 4.0)
    ref = numpy_mc(mu, np.linalg.cholesky(cov), 200_000, seed=9)
    errs = [kl(ref, np.asarray(pl.predictive(mu, cov, "sigma_points", num_points=n))).mean()
            for n in (32, 512)]  # fmt: skip
    assert errs[1] < errs[0] / 4
