r"""Well switching in Bangladesh (Gelman & Hill 2007): a binary outcome over two covariates.

Ships as ``models/data/wells.csv`` (3020 households; see ``models/data/README.md``). Whether a
household with an unsafe well switched to a safe one (``switch``), against the arsenic level of
its well and the distance to the nearest safe well — the classic example of a non-linear
logistic regression, used here for latent-GP classification (:class:`probapprox.gp.LatentGP`).
"""

from pathlib import Path

import numpy as np

__all__ = ["load_wells", "split_wells"]

_COLUMNS = ("switch", "arsenic", "distance", "education", "association")


def load_wells() -> dict[str, np.ndarray]:
    """Load the bundled table.

    Returns:
        A dict of ``(3020,)`` arrays: ``switch`` (int 0/1: switched to a safe well),
        ``arsenic`` (hundreds of µg/L, all above the safe level 0.5), ``distance`` (metres to
        the nearest safe well), ``education`` (years of the head of household) and
        ``association`` (int 0/1: member of a community association).

    """
    path = Path(__file__).resolve().parent.joinpath("data", "wells.csv")
    with path.open("r", encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    if tuple(header) != _COLUMNS:
        raise ValueError(f"models/data/wells.csv: unexpected header {header}.")
    out = {name: table[:, i] for i, name in enumerate(header)}
    for name in ("switch", "education", "association"):
        out[name] = out[name].astype(np.int64)
    return out


def split_wells(seed: int = 0, *, num_test: int = 1000) -> dict[str, tuple[np.ndarray, ...]]:
    """Inputs ``(arsenic, distance / 100)`` and labels, split at random into train and test.

    Returns:
        ``{"train": (X, y), "test": (X, y)}`` with ``X`` of shape ``(n, 2)``.

    """
    data = load_wells()
    x = np.stack([data["arsenic"], data["distance"] / 100.0], axis=1)
    y = data["switch"]
    if not 0 < num_test < len(y):
        raise ValueError(f"split_wells(num_test={num_test}) must be in 1..{len(y) - 1}.")
    perm = np.random.default_rng(seed).permutation(len(y))
    te, tr = perm[:num_test], perm[num_test:]
    return {"train": (x[tr], y[tr]), "test": (x[te], y[te])}
