r"""``LatentGP``: DKLGP variational inference for latent GPs with any likelihood.

Model: :math:`f \sim \mathcal{GP}(\mu, k_\theta)` at the training inputs (with a nugget on the
diagonal) and :math:`y_i \mid f_i \sim p(y_i \mid f_i, \phi)`. The prior is replaced by its
KL-optimal sparse inverse-Cholesky (Vecchia) approximation
:math:`\hat p = \mathcal N(\mu, (UU^\top)^{-1})` under a maximin ordering, and the posterior
by :math:`q = \mathcal N(\nu, (VV^\top)^{-1})` with V on the same pattern; the ELBO
:math:`\mathbb E_q\log p(y\mid f) - \mathrm{KL}(q\,\|\,\hat p)` is maximised by minibatch
Adam over ν, V, θ and φ (``probapprox.gp._train``) after a Laplace initialisation
(``probapprox.gp._init``). With ``learn_hyperparameters`` the fit runs in two stages, and
the ordering, the pattern and the initialisation are rebuilt with the lengthscales learned
in the first (the authors' staged schedule).

Reference:
    Cao, Kang, Jimenez, Sang, Schäfer, Katzfuss (2023), "Variational sparse inverse
    Cholesky approximation for latent Gaussian processes via double Kullback–Leibler
    minimization", ICML (arXiv 2301.13303).
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from probapprox._checks import check_int
from probapprox.families.sic_gaussian import SICParams, marginals
from probapprox.gp._elbo import full_elbo
from probapprox.gp._exact import fit_exact
from probapprox.gp._fit_loop import fit_stages, stage_pattern
from probapprox.gp._fitted import FitConfig, FittedGP
from probapprox.gp._input_checks import check_data, check_inputs, check_schedule
from probapprox.gp._kernels import Kernel
from probapprox.gp._latent_likelihoods import make_likelihood
from probapprox.gp._mesh import columns_on_mesh
from probapprox.gp._predict import predict_fitted
from probapprox.ordering import Pattern

__all__ = ["EXACT_MAX_N", "LatentGP"]

_OWNER = "probapprox.gp.LatentGP"
EXACT_MAX_N = 4096
_SPARSE_RHO = 2.0


class LatentGP:
    r"""Sparse inverse-Cholesky variational latent GP (DKLGP) for 10⁴–10⁶ points.

    >>> import numpy as np, probapprox as pa  # doctest: +SKIP
    >>> gp = pa.gp.LatentGP(pa.gp.Matern32(0.2), "bernoulli", rho=2.0)  # doctest: +SKIP
    >>> gp.fit(X, y, num_epochs=20)  # doctest: +SKIP
    >>> p, _ = gp.predict_y(X_test)  # P(y = 1), probit-corrected, not σ(mean)

    Args:
        kernel: a :class:`probapprox.gp.Kernel` (initial hyperparameters).
        likelihood: a :class:`probapprox.gp.Likelihood` or its name (``"gaussian"``,
            ``"bernoulli"``, ``"poisson"``, ``"student_t"``).
        rho: ρ of the pattern :math:`\{i \le j: \|x_i-x_j\| \le \rho\ell_j\}` (paper);
            ``math.inf`` is the dense pattern. Default ``None``: chosen by accuracy per
            second (table below).
        num_neighbors: use the m-nearest-previous-neighbour pattern instead (``rho`` unused).
        nugget: added to the kernel diagonal (1e-4 as the authors; it also makes duplicated
            inputs harmless).
        mean: constant prior mean μ.
        variational: ``"sic"`` (V on the pattern) or ``"diagonal"`` (mean-field ablation).
        init: ``"laplace"`` (Newton mode + corrected factor) or ``"prior"`` (q = p̂).
        max_num_ancestor: cap on the ancestor-set size (memory/time per step).

    **Exact mode.** On the dense pattern (ρ = ∞, a ρ or ``num_neighbors`` whose pattern is
    dense, or the default for n ≤ ``EXACT_MAX_N`` = 4096) the Vecchia prior is the exact GP
    prior and the SIC family every Gaussian; the optimal q is then found by
    conjugate-computation VI (natural-gradient Newton steps on Gaussian sites, O(n³) each,
    exact in one step for a Gaussian likelihood) and the hyperparameters by L-BFGS on the
    converged ELBO (:mod:`probapprox.gp._exact`); ``num_epochs``, ``batch_size``,
    ``learning_rate``, ``stages`` and ``init`` are unused there. ``variational="diagonal"``
    always takes the minibatch path.

    **Choosing ρ** (sim1: d = 5, n = 2000, Matérn-3/2 ARD, true hyperparameters; mean
    |μ − μ_exact| / sd_exact at 500 test points, 2-core machine): ρ = 1.5 (8 neighbours)
    0.19–0.36 and ρ = 2 (21) 0.17–0.21 at 3–5 s per epoch; ρ = 3 (83) 0.06–0.11 at 25–29 s per
    epoch; the dense pattern (exact mode) 0 by construction, at one O(n³) Cholesky per CVI step
    (n = 2000: 1–2 s each on a quiet machine, 2 steps for a Gaussian likelihood). The error of
    a sparse ρ is its Vecchia prior's (the mean-field ablation on the same pattern has the same
    error), so the default is the exact mode up to ``EXACT_MAX_N`` = 4096 points and ρ = 2
    above it, where the per-step cost stops growing with n.

    """

    def __init__(
        self,
        kernel: Kernel,
        likelihood: Any,
        *,
        rho: float | None = None,
        num_neighbors: int | None = None,
        nugget: float = 1e-4,
        mean: float = 0.0,
        variational: str = "sic",
        init: str = "laplace",
        max_num_ancestor: int | None = None,
    ) -> None:
        if not isinstance(kernel, Kernel):
            raise TypeError(
                f"{_OWNER}(kernel=...) expects a probapprox.gp kernel (Matern12, Matern32, "
                f"Matern52, RBF); got {type(kernel).__name__}."
            )
        self.kernel = kernel
        self.likelihood = make_likelihood(likelihood)
        if rho is not None and not (rho > 0):
            raise ValueError(
                f"{_OWNER}(rho=...) must be a positive number (math.inf: dense) or None; got "
                f"{rho!r}."
            )
        self.rho = None if rho is None else float(rho)
        self.num_neighbors = (
            None if num_neighbors is None else check_int(_OWNER, "num_neighbors", num_neighbors)
        )
        if not (np.isfinite(nugget) and nugget >= 0):
            raise ValueError(f"{_OWNER}(nugget=...) must be >= 0; got {nugget!r}.")
        self.nugget = float(nugget)
        self.mean = float(mean)
        if variational not in ("sic", "diagonal"):
            raise ValueError(
                f"{_OWNER}(variational=...) must be 'sic' or 'diagonal'; got {variational!r}."
            )
        self.variational = variational
        if init not in ("laplace", "prior"):
            raise ValueError(f"{_OWNER}(init=...) must be 'laplace' or 'prior'; got {init!r}.")
        self.init = init
        self.max_num_ancestor = max_num_ancestor
        self.fitted_: FittedGP | None = None

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        num_epochs: int = 30,
        batch_size: int = 128,
        seed: int = 0,
        learn_hyperparameters: bool = True,
        learning_rate: float = 0.01,
        stages: tuple[int, ...] | None = None,
        mesh: Any = None,
    ) -> LatentGP:
        """Fit q, and θ and φ if ``learn_hyperparameters``, by minibatch Adam.

        Args:
            X: ``(n, d)`` inputs (1-d is read as ``(n, 1)``); finite.
            y: ``(n,)`` observations in the likelihood's support.
            num_epochs: passes over the data in total.
            batch_size: columns per step (b; the authors use 128).
            seed: integer seed (orderings are deterministic; batches depend on it).
            learn_hyperparameters: also learn the kernel and likelihood parameters.
            learning_rate: Adam step size; it drops ×0.1 for the last sixth of each stage of
                at least 6 epochs (the authors' milestone).
            stages: epochs per stage; the ordering and the initialisation are rebuilt at
                the start of each stage. Default: ``(⌈E/6⌉, rest)`` when learning the
                hyperparameters, else ``(E,)``.
            mesh: a :class:`jax.sharding.Mesh` with a ``"data"`` axis: each step's columns are
                split over its devices, the table and hyperparameters replicated (see
                :mod:`probapprox.gp._mesh`); the fit is the same up to the order of sums.

        Returns:
            ``self``, with ``fitted_`` (a :class:`~probapprox.gp._fitted.FittedGP`) holding
            the ordering, q, the hyperparameters and the per-epoch losses (``history``).

        """
        Xh, yh = check_data(f"{_OWNER}.fit", self.kernel, self.likelihood, X, y)
        n = Xh.shape[0]
        batch_size, seed, stages = check_schedule(
            f"{_OWNER}.fit", n, num_epochs, batch_size, seed, stages, learn=learn_hyperparameters
        )
        cfg = self._config(n)
        pattern = None
        exact = self.variational == "sic" and (
            math.isinf(cfg.rho)
            or (cfg.num_neighbors is not None and cfg.num_neighbors >= n)
            or (self.rho is None and self.num_neighbors is None and n <= EXACT_MAX_N)
        )
        if not exact and self.variational == "sic" and n <= EXACT_MAX_N:
            pattern = stage_pattern(cfg, self.kernel, Xh)  # a dense pattern: exact mode
            exact = pattern.nnz == n * (n + 1) // 2
        # the mesh is checked here; the exact mode (dense pattern, n <= EXACT_MAX_N) is one device
        with columns_on_mesh(mesh):  # each step's columns over the mesh's "data" axis
            if exact:
                q, kernel, lik, history, iters = fit_exact(
                    self.kernel, self.likelihood, jnp.asarray(Xh), jnp.asarray(yh),
                    jnp.asarray(self.mean), self.nugget, learn=bool(learn_hyperparameters),
                )  # fmt: skip
                self.fitted_ = FittedGP(kernel, lik, np.asarray(history), 0, (iters,), exact=q)
                return self
            self.fitted_ = fit_stages(
                cfg, self.kernel, self.likelihood, Xh, yh, stages, batch_size, seed,
                learn=bool(learn_hyperparameters), learning_rate=learning_rate,
                first_pattern=pattern,
            )  # fmt: skip
        return self

    def _config(self, n: int) -> FitConfig:
        rho = self.rho
        if rho is None:
            exact = n <= EXACT_MAX_N and self.variational == "sic"
            rho = math.inf if exact else _SPARSE_RHO
        return FitConfig(
            rho, self.num_neighbors, self.nugget, self.mean, self.variational == "diagonal",
            self.init, self.max_num_ancestor,
        )  # fmt: skip

    def _state(self) -> FittedGP:
        if self.fitted_ is None:
            raise RuntimeError(f"{_OWNER}: call .fit(X, y) first.")
        return self.fitted_

    @property
    def kernel_(self) -> Kernel:
        """The fitted kernel."""
        return self._state().kernel

    @property
    def likelihood_(self) -> Any:
        """The fitted likelihood."""
        return self._state().likelihood

    @property
    def exact_(self) -> bool:
        """Whether the fit ran in exact mode (the dense pattern; see the class docstring)."""
        return self._state().exact is not None

    @property
    def pattern_(self) -> Pattern | None:
        """The final ordering, pattern and ancestor sets (``None`` in exact mode)."""
        return self._state().pattern

    @property
    def params_(self) -> SICParams | None:
        """The parameters of q in the maximin order of ``pattern_.perm`` (``None``: exact)."""
        return self._state().params

    def marginals(self) -> tuple[np.ndarray, np.ndarray]:
        """Marginal means and variances of q at the training inputs, in X's original order."""
        st = self._state()
        if st.exact is not None:
            return np.asarray(st.exact.mean), np.asarray(st.exact.var)
        mean, var = marginals(st.params, st.data.idx, st.data.anc)
        inv = np.argsort(st.pattern.perm)
        return np.asarray(mean)[inv], np.asarray(var)[inv]

    def elbo(self) -> float:
        """The exact ELBO of the fitted q (sum over all columns)."""
        st = self._state()
        if st.exact is not None:
            return float(st.exact.elbo)
        value = full_elbo(
            st.params, st.kernel, st.likelihood, st.data, nugget=self.nugget, mu=self.mean
        )
        return float(value)

    def predict_f(
        self, X_new: Any, *, num_neighbors: int | None = None, batch_size: int = 1024
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the latent f at ``X_new`` under q (``probapprox.gp._predict``).

        Args:
            X_new: ``(t, d)`` inputs.
            num_neighbors: training points each prediction conditions on (default: the
                pattern's widest row, at least 100, at most n; on sim1 (d = 5) 30 neighbours
                inflate the test variances by ~17 % against the exact GP, 100 by ~5 %).
            batch_size: test points per jitted batch.

        """
        st = self._state()
        X_train = st.exact.X if st.exact is not None else st.data.X
        Xn = check_inputs(f"{_OWNER}.predict_f", "X_new", X_new, X_train.shape[1])
        batch_size = check_int(f"{_OWNER}.predict_f", "batch_size", batch_size)
        if st.exact is None and num_neighbors is not None:
            num_neighbors = check_int(f"{_OWNER}.predict_f", "num_neighbors", num_neighbors)
        return predict_fitted(st, Xn, self.mean, self.nugget, num_neighbors, batch_size)

    def predict_y(self, X_new: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        r"""Mean and variance of y under :math:`\int p(y\mid f)\,q(f)\,df` at ``X_new``.

        For Bernoulli this is the class-1 probability with the latent variance integrated
        out (e.g. :math:`\Phi(\mu/\sqrt{1+\sigma^2})` for the probit link), not the
        plug-in link of the mean.
        """
        mean, var = self.predict_f(X_new, **kwargs)
        ym, yv = self.likelihood_.predict_y(jnp.asarray(mean), jnp.asarray(var))
        return np.asarray(ym), np.asarray(yv)

    def predictive_log_prob(self, X_new: Any, y_new: Any, **kwargs: Any) -> np.ndarray:
        r""":math:`\log\int p(y_*\mid f_*)\,q(f_*)\,df_*` per test point."""
        y_new = self.likelihood_.validate_y(y_new)
        mean, var = self.predict_f(X_new, **kwargs)
        if y_new.shape != mean.shape:
            raise ValueError(
                f"{_OWNER}.predictive_log_prob(y_new=...) must have one value per row of "
                f"X_new ({mean.shape[0]}); got shape {y_new.shape}."
            )
        return np.asarray(self.likelihood_.predictive_log_prob(y_new, mean, var))

    def __repr__(self) -> str:
        pat = f"num_neighbors={self.num_neighbors}" if self.num_neighbors else f"rho={self.rho}"
        return (
            f"LatentGP({self.kernel!r}, {self.likelihood!r}, {pat}, "
            f"variational={self.variational!r}, fitted={self.fitted_ is not None})"
        )
