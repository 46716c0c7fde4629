"""Test configuration: CPU, 64-bit floats, fixed seeds."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    """A fixed PRNG key."""
    return jax.random.PRNGKey(0)
