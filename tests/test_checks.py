import numpy as np
import pytest

from probapprox._checks import check_choice, check_int, check_positive


def test_check_int():
    assert check_int("f", "n", np.int64(3)) == 3
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=r"f\(n=\.\.\.\) expects an integer >= 1"):
            check_int("f", "n", bad)
    assert check_int("f", "seed", 0, minimum=0) == 0


def test_check_positive():
    assert check_positive("f", "x", 2) == 2.0
    for bad in (0, -1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match=r"f\(x=\.\.\.\) expects a positive number"):
            check_positive("f", "x", bad)


def test_check_choice():
    assert check_choice("f", "k", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"must be one of \('a', 'b'\); got 'c'"):
        check_choice("f", "k", "c", ("a", "b"))
