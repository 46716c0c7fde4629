"""Progress reporting between jitted chunks: a tqdm bar with a smoothed loss."""

from __future__ import annotations

import math
import sys

import numpy as np
from tqdm.auto import tqdm

__all__ = ["Progress"]


class Progress:
    """Progress bar for a fit; updated once per chunk, never inside jitted code.

    The bar shows the mean loss of the last chunk and its relative change
    against the previous chunk (a noisy ELBO is better read as a smoothed
    trend than as single-step values).
    """

    def __init__(self, total: int, initial: int, *, enabled: bool, desc: str = "fit") -> None:
        self._bar = tqdm(
            total=total,
            initial=initial,
            disable=not enabled,
            desc=desc,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )
        self._last: float | None = None

    def update(self, losses: np.ndarray) -> None:
        """Advance by ``len(losses)`` steps and show their smoothed value."""
        finite = losses[np.isfinite(losses)]
        if finite.size:
            smooth = float(np.mean(finite))
            postfix = f"loss {smooth:.4g}"
            if self._last is not None and math.isfinite(self._last) and self._last != 0:
                change = 100.0 * (smooth - self._last) / abs(self._last)
                postfix += f" ({change:+.2f}%)"
            self._last = smooth
            self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(len(losses))

    def close(self) -> None:
        """Close the bar."""
        self._bar.close()
