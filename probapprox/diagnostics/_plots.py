"""A one-page summary plot of one or more fits of the same model."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping

import numpy as np
import xarray as xr

__all__ = ["plot_fits"]

_MAX_PANELS = 7


def _scalars(tree: xr.DataTree) -> dict[str, np.ndarray]:
    """Flatten posterior variables into named scalar draws (``beta[0]``, ...)."""
    out = {}
    for name, da in tree["posterior"].data_vars.items():
        v = np.asarray(da.values).reshape(da.shape[0] * da.shape[1], -1)
        for j in range(v.shape[1]):
            out[name if v.shape[1] == 1 else f"{name}[{j}]"] = v[:, j]
    return out


def _loss_panel(ax: object, losses: Mapping[str, np.ndarray]) -> None:
    """Moving averages of the losses on a linear axis with plain tick labels.

    The y-range runs from the lowest average to the highest one after the first tenth of the
    steps, so the start-up transient (often orders of magnitude above the plateau) does not
    squash the part of the trace that shows convergence; clipped traces are flagged in the title.
    """
    from matplotlib.ticker import MaxNLocator

    lo, hi, clipped = np.inf, -np.inf, False
    for label, loss in losses.items():
        window = max(1, loss.size // 50)
        smooth = np.convolve(np.nan_to_num(loss), np.ones(window) / window, mode="valid")
        ax.plot(smooth, label=label, lw=1)
        tail = smooth[smooth.size // 10 :]
        lo, hi = min(lo, float(smooth.min())), max(hi, float(tail.max()))
        clipped |= bool(smooth.max() > tail.max())
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
    ax.set_ylim(lo - pad, hi + pad)
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.set_title("−ELBO (moving average" + ("; start clipped)" if clipped else ")"))
    ax.set_xlabel("step")
    ax.set_ylabel("−ELBO")
    ax.legend(fontsize=7)


def plot_fits(
    trees: Mapping[str, xr.DataTree],
    path: str | os.PathLike,
    *,
    title: str,
    reference: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Save a figure: loss traces, then marginals (or a 2-D scatter) per guide.

    Args:
        trees: label (e.g. guide name) -> ArviZ ``DataTree`` from ``FitResult.to_arviz``.
        path: output image file (``.png``).
        title: figure title.
        reference: optional exact marginal ``(mean, sd)`` per scalar name (e.g. ``beta[0]``),
            drawn as a Gaussian curve.

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = list(trees)
    scalars = {k: _scalars(t) for k, t in trees.items()}
    names = list(next(iter(scalars.values())))
    pair = len(names) == 2 and len(next(iter(trees.values()))["posterior"].data_vars) == 1
    panels = 1 if pair else min(len(names), _MAX_PANELS)
    ncols = min(4, 1 + panels)
    nrows = -(-(1 + panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.0 * nrows), squeeze=False)
    axes = axes.ravel()
    _loss_panel(
        axes[0], {k: np.asarray(t["sample_stats"]["loss"].values) for k, t in trees.items()}
    )
    if pair:
        ax = axes[1]
        for label in labels:
            x, y = (scalars[label][n] for n in names)
            ax.scatter(x, y, s=1, alpha=0.3, label=label)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_title("draws")
    else:
        for ax, name in zip(axes[1:], names[:panels], strict=False):
            for label in labels:
                ax.hist(scalars[label][name], bins=50, density=True, histtype="step", label=label)
            if reference and name in reference:
                mean, sd = reference[name]
                grid = np.linspace(mean - 4 * sd, mean + 4 * sd, 200)
                pdf = np.exp(-0.5 * ((grid - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
                ax.plot(grid, pdf, "k--", lw=1, label="exact")
            ax.set_title(name)
    for ax in axes[1 + panels :]:
        ax.axis("off")
    fig.suptitle(textwrap.fill(title, width=int(30 * ncols)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
