r"""The 8×8 handwritten digits table (UCI optdigits test part, as in scikit-learn).

Ships as ``models/data/digits.csv.gz`` (1797 rows, 64 pixel counts in 0..16 and a ``target``
digit); see ``models/data/README.md`` for its source. Used by the Laplace example and benchmark.
"""

import gzip
from pathlib import Path

import numpy as np

__all__ = ["load_digits", "split_digits", "shift_digits"]


def load_digits(*, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled digits table.

    Args:
        scale: Divide the pixel counts (0..16) by 16 so that features lie in ``[0, 1]``.

    Returns:
        ``(X, y)``: float64 features of shape ``(1797, 64)`` in row-major 8×8 pixel order and
        int64 labels in ``0..9`` of shape ``(1797,)``.

    """
    resource = Path(__file__).resolve().parent.joinpath("data", "digits.csv.gz")
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        table = np.loadtxt(fh, delimiter=",", skiprows=1, dtype=np.float64)
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    return (x / 16.0 if scale else x), y


def split_digits(
    seed: int = 0, *, num_test: int = 500, num_val: int = 300
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A fixed random train / validation / test split of :func:`load_digits` (scaled).

    Returns:
        ``{"train": (X, y), "val": (X, y), "test": (X, y)}``; the train part has
        ``1797 - num_test - num_val`` rows.

    """
    x, y = load_digits()
    if num_test + num_val >= len(y):
        raise ValueError(
            f"split_digits(num_test={num_test}, num_val={num_val}) leaves no training rows "
            f"out of {len(y)}."
        )
    perm = np.random.default_rng(seed).permutation(len(y))
    te, va, tr = np.split(perm, [num_test, num_test + num_val])
    return {"train": (x[tr], y[tr]), "val": (x[va], y[va]), "test": (x[te], y[te])}


def shift_digits(x: np.ndarray, *, degrees: float = 30.0) -> np.ndarray:
    """Rotate each 8×8 image by ``degrees`` about its centre (bilinear, zero fill).

    A covariate-shifted test set for calibration under shift: accuracy drops and a
    well-calibrated model should become less confident.

    Args:
        x: Scaled digits of shape ``(N, 64)``.
        degrees: Rotation angle, clockwise as the image is displayed (row 0 at the top);
            90 equals ``np.rot90(img, k=-1)``.

    Returns:
        Rotated images of shape ``(N, 64)``, clipped to ``[0, 1]``.

    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 64:
        raise ValueError(f"shift_digits(x=...) needs shape (N, 64); got {x.shape}.")
    t = np.deg2rad(degrees)
    c = 3.5
    r, s = np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij")
    # source coordinates of each target pixel (inverse rotation)
    sr = np.cos(t) * (r - c) - np.sin(t) * (s - c) + c
    ss = np.sin(t) * (r - c) + np.cos(t) * (s - c) + c
    r0, s0 = np.floor(sr).astype(int), np.floor(ss).astype(int)
    fr, fs = sr - r0, ss - s0
    img = x.reshape(-1, 8, 8)
    out = np.zeros_like(img)
    for dr, ds, w in (
        (0, 0, (1 - fr) * (1 - fs)),
        (1, 0, fr * (1 - fs)),
        (0, 1, (1 - fr) * fs),
        (1, 1, fr * fs),
    ):
        rr, cc = r0 + dr, s0 + ds
        ok = (rr >= 0) & (rr < 8) & (cc >= 0) & (cc < 8)
        out += np.where(ok, w, 0.0) * img[:, np.clip(rr, 0, 7), np.clip(cc, 0, 7)]
    return np.clip(out.reshape(-1, 64), 0.0, 1.0)
