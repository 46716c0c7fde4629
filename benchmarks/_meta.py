"""Run metadata that every timing benchmark writes beside its rows."""

from __future__ import annotations

import os
import platform

import jax

__all__ = ["run_meta"]


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
