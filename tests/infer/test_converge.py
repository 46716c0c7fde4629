"""The stopping rule on synthetic loss traces, and early stopping inside pa.fit."""

import numpy as np
import pytest
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
from scipy.signal import lfilter

import probapprox as pa
from tests.infer.conftest import hier_model, linreg_model

N = 5000
CHECKS = np.arange(100, N + 1, 100)  # pa.fit checks at chunk boundaries (50 chunks)
RULE = pa.ConvergenceRule().for_budget(N)


def _ar1(rng, n, sigma, phi=0.5):
    """Stationary AR(1) noise with marginal sd ``sigma`` (optimiser noise is autocorrelated)."""
    e = rng.normal(size=n) * sigma * np.sqrt(1 - phi**2)
    e[0] = rng.normal() * sigma
    return lfilter([1.0], [1.0, -phi], e)


@pytest.mark.parametrize("sigma", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("slope", [1e-3, 4e-4])
def test_few_false_stops_while_still_improving(sigma, slope):
    """Linear declines whose change over every window the rule uses exceeds 2 tol."""
    assert slope * RULE.min_window >= 2 * RULE.tol
    rng = np.random.default_rng(0)
    t = np.arange(N)
    stops = [RULE.first_stop(10.0 - slope * t + _ar1(rng, N, sigma), CHECKS) for _ in range(100)]
    assert np.mean([s is not None for s in stops]) < 0.05


@pytest.mark.parametrize(("sigma", "bound"), [(0.0, 1100), (0.01, 2400), (0.05, 4200)])
def test_stops_within_a_bounded_delay_after_a_plateau(sigma, bound):
    """Exponential decay reaching its plateau (remaining < tol/10) by step ~700.

    The delay grows with the noise: the slope must be bounded tightly enough that the rest of
    the budget could not buy ``tol`` nats.
    """
    rng = np.random.default_rng(1)
    t = np.arange(N)
    stops = []
    for _ in range(50):
        loss = 3.0 * np.exp(-t / 100.0) + _ar1(rng, N, sigma)
        stop = RULE.first_stop(loss, CHECKS)
        stops.append(np.inf if stop is None else stop)
    assert np.quantile(stops, 0.95) <= bound
    assert min(stops) >= 400  # never before the loss has levelled off


def test_a_rising_loss_has_not_converged():
    loss = 1.0 + 1e-3 * np.arange(2000)
    assert not RULE.converged(loss)


def test_nonfinite_steps_are_tolerated_only_in_small_numbers():
    loss = np.ones(1000)
    assert RULE.converged(loss)
    loss[::5] = np.nan
    assert not RULE.converged(loss)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tol": 0.0}, "tol"),
        ({"window_fraction": 1.5}, "window_fraction"),
        ({"confidence": 1.0}, "confidence"),
        ({"num_batches": 2}, "num_batches"),
        ({"min_window": 3}, "min_window"),
    ],
)
def test_bad_rule_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        pa.ConvergenceRule(**kwargs)


def test_fit_stops_early_and_reports_it(linreg_data):
    r = pa.fit(
        linreg_model,
        AutoMultivariateNormal(linreg_model),
        *linreg_data,
        num_steps=4000,
        progress=False,
    )
    assert r.converged and r.converged_at == len(r.losses) < 4000
    full = pa.fit(
        linreg_model,
        AutoMultivariateNormal(linreg_model),
        *linreg_data,
        num_steps=4000,
        progress=False,
        early_stop=False,
    )
    assert len(full.losses) == 4000 and full.converged  # still reported
    assert full.converged_at == r.converged_at
    np.testing.assert_array_equal(full.losses[: len(r.losses)], r.losses)


def test_warning_when_the_cap_comes_first(hier_data):
    with pytest.warns(pa.ConvergenceWarning, match="num_steps=60"):
        r = pa.fit(hier_model, AutoNormal(hier_model), *hier_data, num_steps=60, progress=False)
    assert r.converged is False and r.converged_at is None


def test_custom_rule_and_bad_early_stop(linreg_data):
    rule = pa.ConvergenceRule(tol=1e-12, min_window=20)
    with pytest.warns(pa.ConvergenceWarning):
        r = pa.fit(
            linreg_model,
            AutoNormal(linreg_model),
            *linreg_data,
            num_steps=200,
            early_stop=rule,
            progress=False,
        )
    assert len(r.losses) == 200
    with pytest.raises(TypeError, match="early_stop"):
        pa.fit(linreg_model, AutoNormal(linreg_model), *linreg_data, early_stop="yes")
