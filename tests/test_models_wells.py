"""The bundled wells table: shape, coding and the fixed split."""

import numpy as np
import pytest

from probapprox.models.wells import load_wells, split_wells


def test_table_shape_and_coding():
    data = load_wells()
    assert set(data) == {"switch", "arsenic", "distance", "education", "association"}
    assert all(v.shape == (3020,) for v in data.values())
    assert int(data["switch"].sum()) == 1737  # Gelman & Hill: 57.5 % switched
    assert set(np.unique(data["association"])) == {0, 1}
    assert data["arsenic"].min() > 0.5 and np.all(data["distance"] > 0)


def test_split_is_fixed_and_disjoint():
    a, b = split_wells(0), split_wells(0)
    np.testing.assert_array_equal(a["test"][0], b["test"][0])
    assert a["train"][0].shape == (2020, 2) and a["test"][0].shape == (1000, 2)
    with pytest.raises(ValueError, match="num_test"):
        split_wells(num_test=0)
