"""Metrics against hand-computed examples, an independent ECE loop and known identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probapprox import logits as pl

PROBS = np.array(
    [[0.7, 0.2, 0.1], [0.1, 0.62, 0.28], [0.3, 0.28, 0.42], [0.25, 0.5, 0.25]],
)
LABELS = np.array([0, 2, 2, 1])


def test_hand_example():
    assert float(pl.accuracy(PROBS, LABELS)) == pytest.approx(0.75)
    nll = -(np.log(0.7) + np.log(0.28) + np.log(0.42) + np.log(0.5)) / 4
    assert float(pl.nll(PROBS, LABELS)) == pytest.approx(nll, rel=1e-12)
    # rows: .09+.04+.01, .01+.3844+.5184, .09+.0784+.3364, .0625+.25+.0625
    assert float(pl.brier(PROBS, LABELS)) == pytest.approx((0.14 + 0.9128 + 0.5048 + 0.375) / 4)
    # four different bins: (|1-.7| + |0-.62| + |1-.42| + |1-.5|) / 4
    assert float(pl.ece(PROBS, LABELS)) == pytest.approx(0.5, rel=1e-12)
    assert float(pl.mean_max_prob(PROBS)) == pytest.approx((0.7 + 0.62 + 0.42 + 0.5) / 4)


def test_ece_bins_pool_before_the_absolute_value():
    probs = np.array([[0.9, 0.1], [0.91, 0.09]])  # same bin (13/15, 14/15]
    labels = np.array([0, 1])
    assert float(pl.ece(probs, labels)) == pytest.approx(abs(1.0 - 0.9 - 0.91) / 2)
    assert float(pl.ece(probs, labels, num_bins=1)) == pytest.approx(abs(0.5 - 0.905))


def numpy_ece(probs, labels, num_bins):
    conf, pred = probs.max(1), probs.argmax(1)
    total = 0.0
    for b in range(num_bins):
        lo, hi = b / num_bins, (b + 1) / num_bins
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            acc = np.mean(pred[in_bin] == labels[in_bin])
            total += in_bin.mean() * abs(acc - conf[in_bin].mean())
    return total


@pytest.mark.parametrize("num_bins", [1, 10, 15])
def test_ece_matches_loop(num_bins):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 5)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 5, 500)
    got = float(pl.ece(probs, labels, num_bins=num_bins))
    assert got == pytest.approx(numpy_ece(probs, labels, num_bins), abs=1e-12)


def test_identities():
    labels = np.array([2, 0, 1, 1])
    onehot = np.eye(3)[labels]
    assert float(pl.ece(onehot, labels)) == 0.0
    assert float(pl.nll(onehot, labels)) == 0.0
    assert float(pl.brier(onehot, labels)) == 0.0
    assert float(pl.accuracy(onehot, labels)) == 1.0
    uniform = np.full((4, 3), 1 / 3)
    assert float(pl.nll(uniform, labels)) == pytest.approx(np.log(3))
    assert float(pl.brier(uniform, labels)) == pytest.approx(1 - 1 / 3)
    assert float(pl.mean_max_prob(uniform, labels)) == pytest.approx(1 / 3)
    # a zero probability on the true class is clipped, not inf
    wrong = np.eye(3)[(labels + 1) % 3]
    assert float(pl.nll(wrong, labels)) == pytest.approx(-np.log(np.finfo(float).tiny))


def test_jit():
    probs, labels = jnp.asarray(PROBS), jnp.asarray(LABELS)
    for fn in (pl.accuracy, pl.nll, pl.brier, pl.ece, pl.mean_max_prob):
        assert float(jax.jit(fn)(probs, labels)) == pytest.approx(float(fn(probs, labels)))


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        (PROBS, np.array([0, 3, 1, 1]), "labels"),
        (PROBS, np.array([0, -1, 1, 1]), "labels"),
        (PROBS, np.array([0.0, 1.0, 1.0, 1.0]), "labels"),
        (PROBS, np.array([0, 1, 1]), "labels"),
        (PROBS[0], np.array([0]), "probs"),
        (np.where(PROBS == 0.7, np.nan, PROBS), LABELS, "probs"),
        (PROBS * 2, LABELS, "probs"),
        (np.log(PROBS), LABELS, "probs"),
        (PROBS.tolist(), LABELS, "probs"),
    ],
)
def test_bad_inputs(probs, labels, match):
    for fn in (pl.accuracy, pl.nll, pl.brier, pl.ece):
        with pytest.raises(ValueError, match=match):
            fn(probs, labels)


def test_bad_num_bins():
    with pytest.raises(ValueError, match="num_bins"):
        pl.ece(PROBS, LABELS, num_bins=0)
