"""Test configuration: CPU, 64-bit floats, fixed seeds."""

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)

# One persistent compilation cache for the whole session, shared by the xdist workers (they
# inherit the variable the first process sets): many tests build the same programs from new
# closures (every ``pa.fit`` traces its own), which the in-memory cache cannot reuse.
_CACHE_VAR = "PROBAPPROX_TEST_JAX_CACHE"
_OWN_CACHE = _CACHE_VAR not in os.environ
if _OWN_CACHE:
    os.environ[_CACHE_VAR] = tempfile.mkdtemp(prefix="probapprox-test-jax-cache-")
jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_VAR])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def pytest_unconfigure(config):
    """Remove the session's compilation cache (in the process that made it)."""
    if _OWN_CACHE and not hasattr(config, "workerinput"):
        shutil.rmtree(os.environ[_CACHE_VAR], ignore_errors=True)


@pytest.fixture
def key():
    """A fixed PRNG key."""
    return jax.random.PRNGKey(0)


_SLOW_LIST = Path(__file__).with_name("slow_tests.txt")


def _slow_ids() -> tuple[set[str], tuple[str, ...]]:
    lines = [s.strip() for s in _SLOW_LIST.read_text(encoding="utf-8").splitlines()]
    lines = [s for s in lines if s and not s.startswith("#")]
    return {s for s in lines if "::" in s}, tuple(s for s in lines if "::" not in s)


def pytest_collection_modifyitems(config, items):
    """Mark the tests listed in ``tests/slow_tests.txt`` as ``slow`` (see that file)."""
    ids, files = _slow_ids()
    for item in items:
        if item.nodeid in ids or item.nodeid.split("::")[0] in files:
            item.add_marker(pytest.mark.slow)
