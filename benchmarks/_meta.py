"""Run metadata that every timing benchmark writes beside its rows."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import jax

__all__ = ["RESULTS", "run_meta", "write_results"]

RESULTS = Path(__file__).parent / "results"


def run_meta(load_before: tuple[float, ...], total_seconds: float) -> dict:
    """Machine, software and load at the start and end of a run."""
    return {
        "total_seconds": total_seconds,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "platform": platform.platform(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
    }


def write_results(name: str, result: dict, lines: list[str], *, quick: bool) -> None:
    """Print the table; write ``results/<name>[_quick].json`` and, for full runs, ``<name>.md``."""
    RESULTS.mkdir(exist_ok=True)
    stem = f"{name}_quick" if quick else name
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=1))
    print("\n".join(lines))
    if not quick:
        (RESULTS / f"{stem}.md").write_text("\n".join(lines).strip("\n") + "\n")
    print(f"wrote {RESULTS / stem}.json" + ("" if quick else " and .md"))
