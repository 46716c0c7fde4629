"""Argument checks shared by every layer (pure Python; raises with the owner and the fix)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_int", "check_positive", "check_choice"]


def check_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= ``minimum``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{owner}({name}=...) expects an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_positive(owner: str, name: str, value: Any) -> float:
    """Return ``value`` as a ``float`` if it is a finite positive number, else raise ValueError."""
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.number)
    if not (ok and math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}({name}=...) expects a positive number; got {value!r}.")
    return float(value)


def check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{owner}({name}=...) must be one of {choices}; got {value!r}.")
    return value
