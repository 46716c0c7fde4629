"""The bundled digits table, its fixed split and the rotated (covariate-shifted) copy."""

import numpy as np
import pytest

from probapprox.models.digits import load_digits, shift_digits, split_digits


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_shapes_labels_and_range(digits):
    x, y = digits
    assert x.shape == (1797, 64) and x.dtype == np.float64
    assert y.shape == (1797,) and np.issubdtype(y.dtype, np.integer)
    counts = np.bincount(y)
    assert counts.size == 10 and counts.sum() == 1797
    assert counts.min() >= 174 and counts.max() <= 183  # the UCI test part is near-balanced
    assert x.min() == 0.0 and x.max() == 1.0
    raw, y_raw = load_digits(scale=False)
    np.testing.assert_array_equal(y_raw, y)
    assert raw.max() == 16.0 and np.array_equal(raw, np.round(raw))  # pixel counts 0..16
    np.testing.assert_array_equal(raw / 16.0, x)


def _rows(*parts):
    """Rows ``[x, y]`` sorted lexicographically (a multiset of examples)."""
    table = np.concatenate([np.column_stack([x, y]) for x, y in parts])
    return table[np.lexsort(table.T[::-1])]


def test_split_is_disjoint_and_covering(digits):
    parts = split_digits(0)
    assert {k: len(v[1]) for k, v in parts.items()} == {"train": 997, "val": 300, "test": 500}
    for x, y in parts.values():
        assert x.shape == (len(y), 64)
    # the three parts together are the whole table, each row used exactly once
    np.testing.assert_array_equal(_rows(*parts.values()), _rows(digits))
    again, other = split_digits(0), split_digits(1)
    np.testing.assert_array_equal(again["test"][0], parts["test"][0])
    assert not np.array_equal(other["test"][0], parts["test"][0])
    small = split_digits(0, num_test=100, num_val=50)
    assert len(small["train"][1]) == 1797 - 150


def test_shift_zero_is_identity(digits):
    x = digits[0][:50]
    np.testing.assert_array_equal(shift_digits(x, degrees=0.0), x)


@pytest.mark.parametrize(("degrees", "k"), [(90.0, -1), (180.0, 2), (-90.0, 1)])
def test_shift_quarter_turns_are_rot90(digits, degrees, k):
    x = digits[0][:50]
    want = np.stack([np.rot90(img, k=k) for img in x.reshape(-1, 8, 8)]).reshape(-1, 64)
    np.testing.assert_allclose(shift_digits(x, degrees=degrees), want, rtol=0, atol=1e-12)


def test_shift_thirty_degrees_stays_in_range(digits):
    x = digits[0][:50]
    out = shift_digits(x, degrees=30.0)
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, x)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"shift_digits\(x=\.\.\.\) needs shape \(N, 64\)"):
        shift_digits(np.zeros((3, 63)))
    with pytest.raises(ValueError, match=r"needs shape \(N, 64\)"):
        shift_digits(np.zeros(64))
    with pytest.raises(ValueError, match="leaves no training rows"):
        split_digits(0, num_test=1500, num_val=297)
