"""The ladder table of ``pa.fit(model, "auto")``: one row per rung, formatted for people."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["format_ladder", "ladder_row"]

_COLUMNS = ("rung", "family", "ELBO", "± se", "k̂", "KL est", "seconds", "verdict")


def ladder_row(
    family: str,
    guide: str,
    *,
    elbo: float = math.nan,
    elbo_se: float = math.nan,
    khat: float = math.nan,
    gap: float = math.nan,
    seconds: float = 0.0,
    verdict: str = "",
    certified: bool = False,
) -> dict[str, Any]:
    r"""One rung as a JSON-able dict (stored in ``FitResult.info["auto"]``).

    ``gap`` is the importance estimate of :math:`\mathrm{KL}(q\,\|\,p) = \log Z -
    \mathrm{ELBO}` (see :func:`probapprox.infer._auto.judge`).
    """
    return {
        "family": family,
        "guide": guide,
        "elbo": float(elbo),
        "elbo_se": float(elbo_se),
        "khat": float(khat),
        "gap": float(gap),
        "seconds": float(seconds),
        "certified": bool(certified),
        "verdict": verdict,
    }


def _num(x: float, spec: str) -> str:
    return "—" if x is None or not math.isfinite(float(x)) else format(float(x), spec)


def format_ladder(rows: list[dict[str, Any]]) -> str:
    """The ladder as a plain-text table (rung, family, ELBO ± se, k̂, KL est., seconds, verdict).

    Example:
        >>> print(format_ladder(result.info["auto"]))  # doctest: +SKIP

    """
    cells = [
        (
            str(i + 1),
            f"{r['family']} ({r['guide']})",
            _num(r["elbo"], ".3f"),
            _num(r["elbo_se"], ".3f"),
            _num(r["khat"], ".2f"),
            _num(r.get("gap", math.nan), ".3f"),
            _num(r["seconds"], ".1f"),
            r["verdict"],
        )
        for i, r in enumerate(rows)
    ]
    widths = [max(len(c[j]) for c in [_COLUMNS, *cells]) for j in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [_COLUMNS, *cells]]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "auto ladder:\n" + "\n".join(lines)
