r"""Pareto-smoothed importance sampling (PSIS) and the :math:`\hat k` diagnostic.

Host-side NumPy only (no JAX, no NumPyro): the inputs are a few thousand log
importance weights that have already been computed on the device.

Given draws :math:`\theta_s \sim q` and raw log importance weights
:math:`\log w_s = \log p(x, \theta_s) - \log q(\theta_s)` (large = heavy), PSIS
fits a generalized Pareto distribution (GPD) to the :math:`M` largest weights and
replaces them by the fitted quantiles. The fitted shape :math:`\hat k` says how
far the importance-sampling estimate can be trusted [1]_, and so how good the
variational approximation :math:`q` is [3]_:

* :math:`\hat k < \min(1 - 1/\log_{10} S,\ 0.7)` (see :func:`psis_khat_threshold`):
  the (smoothed) importance-sampling estimates are reliable;
* :math:`\hat k \ge 0.7`: the weights are too heavy-tailed; do not trust them.

References:
    .. [1] A. Vehtari, D. Simpson, A. Gelman, Y. Yao and J. Gabry (2024).
       Pareto smoothed importance sampling. *JMLR* 25(72), 1-58.
    .. [2] J. Zhang and M. A. Stephens (2009). A new and efficient estimation
       method for the generalized Pareto distribution. *Technometrics* 51(3),
       316-325.
    .. [3] Y. Yao, A. Vehtari, D. Simpson and A. Gelman (2018). Yes, but did it
       work?: Evaluating variational inference. *ICML*.

"""

import math
import operator
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PSISResult", "psis", "gpd_fit", "psis_khat_threshold"]

_MIN_TAIL = 5  # fewer tail draws than this: no fit, k = inf
_PRIOR_STRENGTH = 10.0  # weakly-informative prior on k [1]: n_prior = 10 ...
_PRIOR_K = 0.5  # ... pseudo-observations at k = 0.5


class PSISResult(NamedTuple):
    r"""Result of :func:`psis`.

    Attributes:
        log_weights: Pareto-smoothed, normalised log weights
            (:math:`\operatorname{logsumexp} = 0`), in the order of the input.
        pareto_k: :math:`\hat k`, the shape of the GPD fitted to the upper tail of
            the raw weights (``inf`` when there are too few draws or the fit fails,
            ``-inf`` when the largest weights are all equal, i.e. the tail is bounded).
        ess: Importance-sampling effective sample size of the smoothed weights,
            :math:`1 / \sum_s \bar w_s^2` with :math:`\sum_s \bar w_s = 1`.
        tail_length: :math:`M`, the number of largest weights in the fit.

    """

    log_weights: np.ndarray
    pareto_k: float
    ess: float
    tail_length: int


def psis_khat_threshold(num_samples: int) -> float:
    r"""Sample-size dependent :math:`\hat k` threshold of Vehtari et al. (2024).

    .. math:: k_{\text{thr}}(S) = \min\bigl(1 - 1/\log_{10} S,\ 0.7\bigr).

    Above it, :math:`S` draws are too few for a reliable (smoothed) importance-sampling
    estimate [1]_. The threshold is 0 at :math:`S = 10`, 0.5 at :math:`S = 100`, and
    0.7 for :math:`S \ge 2155`.

    Args:
        num_samples: Number of draws :math:`S \ge 1` (``S = 1`` gives ``-inf``).

    Returns:
        The threshold.

    Raises:
        ValueError: If ``num_samples`` is not a positive integer.

    Examples:
        >>> psis_khat_threshold(100)
        0.5
        >>> psis_khat_threshold(10_000)
        0.7

    """
    try:
        s = operator.index(num_samples)
    except TypeError:
        s = None
    if s is None or isinstance(num_samples, bool) or s < 1:
        raise ValueError(
            f"psis_khat_threshold(num_samples=...) expected a positive integer; "
            f"got {num_samples!r}."
        )
    if s == 1:
        return -math.inf
    return min(1.0 - 1.0 / math.log10(s), 0.7)


def gpd_fit(exceedances: np.ndarray) -> tuple[float, float]:
    r"""Fit a generalized Pareto distribution to exceedances over a threshold.

    Uses the profile empirical-Bayes estimator of Zhang & Stephens (2009) [2]_ with
    the weakly-informative prior on the shape of Vehtari et al. (2024) [1]_. In the
    usual parameterisation the GPD is

    .. math:: F(x) = 1 - (1 + k x / \sigma)^{-1/k}, \qquad x \ge 0,

    so ``k > 0`` means a heavy (power-law) tail and ``k < 0`` a bounded one. Zhang &
    Stephens use :math:`\theta = -k/\sigma`. With :math:`x_{(1)} \le \dots \le x_{(n)}`,
    :math:`m = 30 + \lfloor\sqrt n\rfloor` and :math:`x^* = x_{(\lfloor n/4 + 1/2\rfloor)}`
    (first quartile), the grid is

    .. math:: \theta_j = \frac{1}{x_{(n)}}
              + \frac{1 - \sqrt{m / (j - 1/2)}}{3 x^*}, \qquad j = 1..m,

    all below :math:`1/x_{(n)}`, so :math:`1 - \theta_j x_i > 0`. For fixed
    :math:`\theta` the shape MLE is :math:`k(\theta) = \frac1n\sum_i \log(1 - \theta x_i)`
    and the profile log-likelihood is

    .. math:: \ell(\theta) = n\bigl(\log(-\theta / k(\theta)) - k(\theta) - 1\bigr).

    The posterior-mean estimate is :math:`\hat\theta = \sum_j w_j\theta_j` with
    :math:`w_j \propto e^{\ell(\theta_j)}` (a softmax), then
    :math:`\hat k = k(\hat\theta)`, :math:`\hat\sigma = -\hat k / \hat\theta`, and the
    prior shrinks the shape towards 1/2 as if from 10 pseudo-observations:

    .. math:: \hat k \leftarrow \frac{n \hat k + 10 \cdot 0.5}{n + 10}.

    :math:`\hat\sigma` is not re-adjusted. If the first quartile :math:`x^*` is 0
    (a quarter or more of the exceedances tie with the threshold) the grid is undefined
    and the fit is reported as failed: clamping :math:`x^*` would cap :math:`\hat k`
    and could call one huge weight among tied ones a light tail.

    Args:
        exceedances: 1-D array of :math:`n \ge 1` non-negative, finite exceedances,
            at least one positive; any order.

    Returns:
        ``(k, sigma)``: the shape (usual sign: heavy tail :math:`\Rightarrow k > 0`) and
        the scale. ``(inf, nan)`` if the fit fails (:math:`x^* = 0`, or non-finite
        arithmetic).

    Raises:
        ValueError: If ``exceedances`` is not 1-D, is empty, has negative or
            non-finite values, or is all zero.

    """
    x = np.asarray(exceedances, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(
            f"gpd_fit(exceedances=...) expected a non-empty 1-D array; got shape {x.shape}."
        )
    bad = int(np.count_nonzero(~np.isfinite(x) | (x < 0)))
    if bad:
        raise ValueError(
            f"gpd_fit(exceedances=...) has {bad} of {x.size} values that are negative, "
            "NaN or infinite; exceedances over a threshold must be finite and >= 0."
        )
    x = np.sort(x)
    n = x.size
    if x[-1] <= 0:
        raise ValueError(
            "gpd_fit(exceedances=...) are all zero; a GPD cannot be fitted to a point mass."
        )

    m = 30 + math.isqrt(n)
    x_star = x[max(math.floor(n / 4 + 0.5), 1) - 1]
    if x_star <= 0:
        return math.inf, math.nan
    j = np.arange(1, m + 1, dtype=float)
    theta = 1.0 / x[-1] + (1.0 - np.sqrt(m / (j - 0.5))) / (3.0 * x_star)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = np.mean(np.log1p(-theta[:, None] * x[None, :]), axis=1)
        # -theta/k > 0 (theta and k have opposite signs); theta -> 0 gives 1/mean(x).
        ratio = np.where(theta == 0.0, 1.0 / np.mean(x), -theta / k)
        loglik = n * (np.log(ratio) - k - 1.0)
        weights = np.exp(loglik - np.max(loglik))
        weights /= np.sum(weights)
        theta_hat = float(np.sum(weights * theta))
        k_hat = float(np.mean(np.log1p(-theta_hat * x)))
        sigma_hat = float(np.mean(x)) if theta_hat == 0.0 else -k_hat / theta_hat

    if not (math.isfinite(k_hat) and math.isfinite(sigma_hat) and sigma_hat > 0):
        return math.inf, math.nan
    k_hat = (n * k_hat + _PRIOR_STRENGTH * _PRIOR_K) / (n + _PRIOR_STRENGTH)
    return k_hat, sigma_hat


def psis(log_weights: ArrayLike) -> PSISResult:
    r"""Pareto-smooth importance weights and estimate :math:`\hat k`.

    Algorithm 1 of Vehtari et al. (2024) [1]_ for raw log weights
    :math:`\log w_s = \log p(x, \theta_s) - \log q(\theta_s)`, :math:`s = 1..S`:

    1. :math:`M = \lceil \min(S/5,\ 3\sqrt S) \rceil`; :math:`u` = the
       :math:`(M+1)`-th largest weight.
    2. Fit a GPD (:func:`gpd_fit`) to the exceedances :math:`w_{(S-M+i)} - u`,
       :math:`i = 1..M`, giving :math:`(\hat k, \hat\sigma)`.
    3. Replace the :math:`i`-th smallest of the :math:`M` tail weights by
       :math:`\min\bigl(u + F^{-1}_{\hat k, \hat\sigma}((i - 1/2)/M),\ \max_s w_s\bigr)`,
       with :math:`F^{-1}(p) = \hat\sigma\,((1-p)^{-\hat k} - 1)/\hat k`.
    4. Normalise. The other :math:`S - M` weights are unchanged up to normalisation.

    The weights are handled as :math:`\exp(\log w_s - \max_t \log w_t)`, so any offset
    (e.g. an unknown :math:`\log p(x)`) is harmless. ``-inf`` log weights are zero
    weights. Degenerate inputs are not smoothed: if :math:`M < 5` (:math:`S \le 20`)
    ``pareto_k`` is ``inf``; if the :math:`M + 1` largest weights are equal (e.g. all
    weights equal, :math:`q = p`) the tail is bounded and ``pareto_k`` is ``-inf``; if
    the fit fails (e.g. a quarter of the tail ties with :math:`u`) ``pareto_k`` is
    ``inf``. Compare ``pareto_k`` with
    :func:`psis_khat_threshold` (0.7 for :math:`S \ge 2155`).

    Args:
        log_weights: 1-D array of :math:`S` raw log importance weights; finite or
            ``-inf``.

    Returns:
        A :class:`PSISResult` ``(log_weights, pareto_k, ess, tail_length)``.

    Raises:
        ValueError: If ``log_weights`` is not 1-D, is empty, contains NaN or
            ``+inf``, or is all ``-inf``.

    Examples:
        >>> res = psis(np.zeros(100))
        >>> res.pareto_k, round(res.ess, 6), res.tail_length
        (-inf, 100.0, 20)

    """
    lw = _check_log_weights(log_weights)
    num = lw.size
    tail_len = math.ceil(min(num / 5, 3 * math.sqrt(num)))
    lw_max = float(np.max(lw))
    smoothed = lw.copy()

    if tail_len < _MIN_TAIL:
        k_hat = math.inf
    else:
        order = np.argsort(lw, kind="stable")
        tail_idx = order[num - tail_len :]
        cutoff = math.exp(lw[order[num - tail_len - 1]] - lw_max)
        exceed = np.exp(lw[tail_idx] - lw_max) - cutoff  # ascending, max is 1 - cutoff
        # the M + 1 largest weights are equal up to round-off in log p - log q (e.g. q
        # is the exact posterior): a bounded tail, nothing to fit
        roundoff = 64 * np.finfo(float).eps * max(1.0, abs(lw_max))
        if exceed[-1] <= roundoff:
            k_hat = -math.inf
        else:
            k_hat, sigma = gpd_fit(exceed)
            if math.isfinite(k_hat):
                p = (np.arange(1, tail_len + 1) - 0.5) / tail_len
                tail = np.minimum(cutoff + _gpd_quantile(p, k_hat, sigma), 1.0)
                smoothed[tail_idx] = np.log(tail) + lw_max

    log_norm = smoothed - _logsumexp(smoothed)
    ess = math.exp(-_logsumexp(2.0 * log_norm))
    return PSISResult(log_norm, float(k_hat), ess, tail_len)


def _gpd_quantile(p: np.ndarray, k: float, sigma: float) -> np.ndarray:
    r"""GPD quantile :math:`\sigma((1-p)^{-k} - 1)/k` (location 0), stable as k -> 0."""
    log_surv = np.log1p(-p)
    if k == 0.0:
        return -sigma * log_surv
    return sigma * np.expm1(-k * log_surv) / k


def _logsumexp(a: np.ndarray) -> float:
    r""":math:`\log\sum_i e^{a_i}` for a 1-D array with at least one finite entry."""
    a_max = float(np.max(a))
    return a_max + math.log(float(np.sum(np.exp(a - a_max))))


def _check_log_weights(log_weights: ArrayLike) -> np.ndarray:
    """Coerce ``log_weights`` to a 1-D float array and reject NaN / ``+inf``."""
    lw = np.array(log_weights, dtype=float)
    if lw.ndim != 1 or lw.size == 0:
        raise ValueError(
            f"psis(log_weights=...) expected a non-empty 1-D array with one log weight "
            f"per draw; got shape {lw.shape}. Flatten the draws first (reshape(-1))."
        )
    bad = int(np.count_nonzero(np.isnan(lw) | (lw == np.inf)))
    if bad:
        raise ValueError(
            f"psis(log_weights=...) has {bad} of {lw.size} entries that are NaN or +inf; "
            "only finite values and -inf (a zero weight) are allowed. Check "
            "log p(x, theta) - log q(theta) at those draws."
        )
    if np.all(lw == -np.inf):
        raise ValueError(
            f"psis(log_weights=...) is -inf at all {lw.size} draws: every importance "
            "weight is zero, so they cannot be normalised."
        )
    return lw
