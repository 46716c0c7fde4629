r"""Dense references for bench_latent_gp.py: exact GP posterior and optimal full-covariance VI.

The optimal Gaussian q(f) = N(m, S) for a factorising likelihood has
:math:`S = (K^{-1} + \Lambda)^{-1}`, :math:`\Lambda = \mathrm{diag}(\lambda)`, λ ≥ 0
(Opper & Archambeau 2009). With :math:`B = I + \Lambda^{1/2} K \Lambda^{1/2} = LL^\top`:

.. math::
    S = K - A^\top A,\quad A = L^{-1}\Lambda^{1/2}K, \qquad
    \log\frac{|K|}{|S|} = \log|B|, \qquad
    \mathrm{tr}(K^{-1}S) = \mathrm{tr}(B^{-1}) = n - \textstyle\sum_i \lambda_i S_{ii}

(the last by Woodbury), so with the whitened mean :math:`m = L_K v` (:math:`K = L_K L_K^\top`)

.. math::
    \mathrm{ELBO}(v, \lambda) = \sum_i \mathbb E_{N(m_i, S_{ii})}\log p(y_i \mid f_i)
      - \tfrac12\big[\|v\|^2 - \textstyle\sum_i \lambda_i S_{ii} + \log|B|\big].

Gradients in closed form: :math:`\partial/\partial v = L_K^\top g_m - v` and, from
:math:`d(-\mathrm{KL}) = \tfrac12\mathrm{tr}(\Lambda\,dS)` and :math:`dS = -S\,d\Lambda\,S`,
:math:`\partial/\partial\lambda_k = -\sum_i (g_{s,i} + \lambda_i/2) S_{ik}^2`, where
:math:`g_m, g_s` are the derivatives of the expected log-likelihoods in the mean and the
variance. (v, log λ) is optimised by scipy L-BFGS (λ > 0 at the
optimum for the logit and the Poisson likelihoods, λ_i = -2 ∂E_i/∂S_ii; the log scale
conditions the Poisson case, whose λ = E[e^f] spans orders of magnitude).
For the Gaussian likelihood the optimum is the exact posterior (λ = 1/σ², m = K(K+σ²I)⁻¹y),
computed directly with the same formulas. K includes the 1e-4 nugget (as the model does).

Expected log-likelihoods: Poisson in closed form, :math:`y m - e^{m+s/2} - \log y!`;
Bernoulli-logit by 40-point Gauss–Hermite.

**Where L-BFGS starts** (``start=``). By default at the Laplace solution (independent of the
method under test). It may also start at a given ``(m, λ)`` — e.g. the method's own solution —
and the optimum is still the reference, because:

1. For log-concave likelihoods (logit, Poisson-log) the ELBO is concave in (m, C), with
   :math:`S = CC^\top` and C the Cholesky factor (Challis & Barber 2013, JMLR 14:
   :math:`\mathbb E\log p(y_i\mid m_i + c_i^\top z)` is concave in :math:`(m_i, c_i)`, and
   :math:`-\mathrm{KL}` is concave in (m, C)). A stationary point in (m, S) with S ≻ 0 is
   one in (m, C) (:math:`\partial/\partial C = 2\,(\partial/\partial S)\,C`), hence the
   global maximum.
2. A stationary point of the (v, λ) parameterisation with λ > 0 is a stationary point in
   (m, S). ∂/∂v = 0 is ∂/∂m = 0 (:math:`L_K` invertible). The λ-gradient is
   :math:`-(S\circ S)\,r` with :math:`r = g_s + \lambda/2`, and :math:`S\circ S` is positive
   definite (Schur product theorem, S ≻ 0), so it vanishes only if r = 0, i.e.
   :math:`\lambda = -2 g_s`, the fixed point of the optimal-covariance condition
   :math:`S^{-1} = K^{-1} - 2\,\mathrm{diag}(g_s)`; at that λ the (m, S) gradient is zero.

So L-BFGS run to a tight tolerance from any start converges to the same q; if the start is
off (a method's solution that is not optimal), the reference moves away from it, and
``info["moved_sd"]`` (max |m_start − m|/√S_ii) says how far.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.linalg.blas import dsyrk
from scipy.optimize import minimize
from scipy.special import expit, gammaln

__all__ = ["dense_reference", "expected_loglik"]

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(40)
_GH_W = _GH_W / _GH_W.sum()


def expected_loglik(lik: str, y, m, s):
    """(E, ∂E/∂m, ∂E/∂s) of log p(y | f) under f ~ N(m, s), elementwise."""
    if lik == "poisson":
        ex = np.exp(m + 0.5 * s)
        return y * m - ex - gammaln(y + 1.0), y - ex, -0.5 * ex
    sd = np.sqrt(s)
    f = m[:, None] + sd[:, None] * _GH_X[None, :]
    sgn = 2.0 * y[:, None] - 1.0
    logp = -np.logaddexp(0.0, -sgn * f)
    d1 = sgn * expit(-sgn * f)  # d/df log σ(sgn f)
    d2 = -expit(f) * expit(-f)
    e = logp @ _GH_W
    return e, d1 @ _GH_W, 0.5 * (d2 @ _GH_W)  # ∂E/∂s = ½ E[∂² log p]


def _laplace(lik, K, y, iters=50):
    """Newton mode of log p(y|f) - ½ fᵀK⁻¹f (R&W Alg. 3.1); returns (f̂, W)."""
    n = len(y)
    f = np.zeros(n)
    for _ in range(iters):
        _, g, h = expected_loglik(lik, y, f, np.zeros(n) + 1e-300)
        w = np.maximum(-2.0 * h, 1e-12)
        sw = np.sqrt(w)
        L = cholesky(np.eye(n) + sw[:, None] * K * sw[None, :], lower=True)
        b = w * f + g
        a = b - sw * cho_solve((L, True), sw * (K @ b))
        f_new = K @ a
        if np.max(np.abs(f_new - f)) < 1e-10:
            f = f_new
            break
        f = f_new
    return f, w


class _Posterior:
    """S, its diagonal and the pieces for test predictions at one λ."""

    def __init__(self, K, lam):
        self.sq = np.sqrt(lam)
        n = len(lam)
        self.L = cholesky(np.eye(n) + self.sq[:, None] * K * self.sq[None, :], lower=True)
        A = solve_triangular(self.L, self.sq[:, None] * K, lower=True)
        ata = dsyrk(1.0, A, trans=1)  # AᵀA, upper triangle (half the flops of A.T @ A)
        self.S = K - (ata + np.triu(ata, 1).T)
        self.s = np.diag(self.S).copy()
        self.logdet_b = 2.0 * np.log(np.diag(self.L)).sum()

    def predict(self, k_star, k_diag, alpha):
        a = solve_triangular(self.L, self.sq[:, None] * k_star, lower=True)
        return k_star.T @ alpha, k_diag - (a**2).sum(0)


def dense_reference(lik, K, y, k_star, k_diag, noise_var=None, maxiter=2000, start=None, gtol=1e-7):
    """Reference q at the training and test points: ``{mean, var, mean_test, var_test, ...}``.

    Args:
        lik: "gaussian" | "bernoulli" | "poisson".
        K: (n, n) prior covariance of f at the training inputs (with the nugget).
        y: (n,) observations.
        k_star: (n, t) cross-covariance with the test inputs; k_diag: (t,) their prior variance.
        noise_var: Gaussian noise variance (Gaussian only).
        maxiter: L-BFGS iterations at most.
        start: ``None`` (the Laplace solution) or ``(m, λ)``, the (n,) training means and
            (n,) site precisions (> 0) to start L-BFGS from (see the module docstring).
        gtol: L-BFGS-B's tolerance on the largest gradient component in (v, log λ).

    """
    t0 = time.perf_counter()
    n = len(y)
    Lk = cholesky(K, lower=True)
    if lik == "gaussian":
        post = _Posterior(K, np.full(n, 1.0 / noise_var))
        alpha = np.linalg.solve(K + noise_var * np.eye(n), y)
        mean = K @ alpha
        info = {"method": "exact GP posterior", "iterations": 0, "grad_norm": 0.0}
    else:

        def fun(z):
            v, lam = z[:n], np.exp(z[n:])
            post = _Posterior(K, lam)
            m = Lk @ v
            e, gm, gs = expected_loglik(lik, y, m, post.s)
            elbo = e.sum() - 0.5 * (v @ v - lam @ post.s + post.logdet_b)
            g_v = Lk.T @ gm - v
            g_lam = -((post.S**2) @ (gs + 0.5 * lam))
            return -elbo, -np.concatenate([g_v, lam * g_lam])

        if start is None:
            m0, lam0 = _laplace(lik, K, y)
            label = "Laplace"
        else:
            m0, lam0 = (np.asarray(a, np.float64) for a in start)
            if m0.shape != (n,) or lam0.shape != (n,) or not np.all(lam0 > 0):
                raise ValueError(f"start: (m, lam) of shape ({n},) with lam > 0 expected")
            label = "given (m, lam)"
        z0 = np.concatenate([solve_triangular(Lk, m0, lower=True), np.log(np.maximum(lam0, 1e-8))])
        f0, g0 = fun(z0)
        res = minimize(
            fun, z0, jac=True, method="L-BFGS-B",
            options={"maxiter": maxiter, "maxcor": 30, "ftol": 1e-15, "gtol": gtol},
        )  # fmt: skip
        v, lam = res.x[:n], np.exp(res.x[n:])
        post = _Posterior(K, lam)
        mean = Lk @ v
        alpha = solve_triangular(Lk.T, v, lower=False)
        _, g = fun(res.x)
        info = {
            "method": "optimal dense Gaussian VI (L-BFGS on (whitened m, log λ))",
            "start": label,
            "iterations": int(res.nit),
            "evaluations": int(res.nfev),
            "converged": bool(res.success),
            "message": str(res.message),
            "grad_norm": float(np.max(np.abs(g))),
            "grad_norm_start": float(np.max(np.abs(g0))),
            "elbo": float(-res.fun),
            "elbo_start": float(-f0),
            "moved_sd": float(np.max(np.abs(m0 - mean) / np.sqrt(post.s))),
            "lam": lam,
        }
    mean_t, var_t = post.predict(k_star, k_diag, alpha)
    info["seconds"] = time.perf_counter() - t0
    return {"mean": mean, "var": post.s, "mean_test": mean_t, "var_test": var_t, "info": info}


def check_gradient(seed=0, n=40, lik="bernoulli"):
    """Finite-difference check of the closed-form ELBO gradient (used once during development)."""
    from _latent_gp_data import NUGGET, matern32  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    X = rng.random((n, 5))
    K = matern32(X, X) + NUGGET * np.eye(n)
    y = (rng.random(n) < 0.5).astype(float) if lik == "bernoulli" else rng.poisson(1.0, n) * 1.0
    Lk = cholesky(K, lower=True)

    def elbo(z):
        v, lam = z[:n], z[n:]
        post = _Posterior(K, lam)
        e, gm, gs = expected_loglik(lik, y, Lk @ v, post.s)
        val = e.sum() - 0.5 * (v @ v - lam @ post.s + post.logdet_b)
        return val, np.concatenate([Lk.T @ gm - v, -((post.S**2) @ (gs + 0.5 * lam))])

    z = np.concatenate([rng.standard_normal(n), rng.random(n) + 0.1])
    _, g = elbo(z)
    h = 1e-6
    fd = np.array([(elbo(z + h * e)[0] - elbo(z - h * e)[0]) / (2 * h) for e in np.eye(2 * n)])
    return float(np.max(np.abs(fd - g)) / np.max(np.abs(g)))
