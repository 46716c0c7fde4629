"""Tiny models, a shared fitted result, a saved fit and a checkpoint for the bad-input tables.

Every case of the tables is ``Case(id, call, error, names)``: ``call(ctx)`` must raise
``error`` (exactly that type or a subclass) with a message matching the regex ``names``,
which names the argument or site at fault. Nothing here runs a long fit: the shared fit
has a few steps, and the bad calls fail before compilation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.autoguide import AutoNormal

import probapprox as pa


@dataclass(frozen=True)
class Case:
    """One bad input: ``call(ctx)`` must raise ``error`` with ``names`` in the message."""

    id: str
    call: Any
    error: type[BaseException] | tuple[type[BaseException], ...]
    names: str


def check(case: Case, ctx: Any) -> None:
    """Run ``case`` and assert the error type and that the message names the culprit."""
    with pytest.raises(case.error) as info:
        case.call(ctx)
    message = str(info.value)
    assert re.search(case.names, message, flags=re.S), (
        f"{case.id}: message does not name {case.names!r}: {message}"
    )


def lin(X, y=None):
    """Three-parameter regression (the issue's trivial model)."""
    a = numpyro.sample("a", dist.Normal(0, 5))
    b = numpyro.sample("b", dist.Normal(0, 5))
    s = numpyro.sample("s", dist.HalfNormal(2))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(a + b * X, s), obs=y)


def lin_normal_scale(X, y=None):
    """Like ``lin`` with the same names and shapes, but ``s`` has another support."""
    a = numpyro.sample("a", dist.Normal(0, 5))
    b = numpyro.sample("b", dist.Normal(0, 5))
    s = numpyro.sample("s", dist.Normal(0, 2))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(a + b * X, jnp.exp(s)), obs=y)


def lin_student(X, y=None):
    """Like ``lin`` with the same sites and supports, but a Student-t likelihood."""
    a = numpyro.sample("a", dist.Normal(0, 5))
    b = numpyro.sample("b", dist.Normal(0, 5))
    s = numpyro.sample("s", dist.HalfNormal(2))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.StudentT(4.0, a + b * X, s), obs=y)


def lin_wide_prior(X, y=None):
    """Like ``lin`` with the same sites and distributions, but a wider prior on ``a``."""
    a = numpyro.sample("a", dist.Normal(0, 50))
    b = numpyro.sample("b", dist.Normal(0, 5))
    s = numpyro.sample("s", dist.HalfNormal(2))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(a + b * X, s), obs=y)


def other(X, y=None):
    """A model with other latent sites."""
    c = numpyro.sample("c", dist.Normal(0, 1).expand([2]).to_event(1))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(c[0] + c[1] * X, 1.0), obs=y)


def bern(X, y=None):
    a = numpyro.sample("a", dist.Normal(0, 5))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=a * X), obs=y)


def pois(X, y=None):
    a = numpyro.sample("a", dist.Normal(0, 1))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Poisson(jnp.exp(a * X)), obs=y)


def cat(X, y=None):
    w = numpyro.sample("w", dist.Normal(0, 1).expand([3]).to_event(1))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Categorical(logits=X[:, None] * w), obs=y)


def positive(X, y=None):
    a = numpyro.sample("a", dist.HalfNormal(1))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Exponential(a), obs=y)


def factor_model(v):
    numpyro.sample("a", dist.Normal(0, 1))
    numpyro.factor("f", v)


def scale_model(X, sigma, y=None):
    a = numpyro.sample("a", dist.Normal(0, 1))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(a * X, sigma), obs=y)


def no_latent(X, y=None):
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(X, 1.0), obs=y)


def discrete_latent(X, y=None):
    z = numpyro.sample("z", dist.Bernoulli(0.5))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(z * X, 1.0), obs=y)


def hier(X, y=None, *, group=None):
    mu = numpyro.sample("mu", dist.Normal(0, 1))
    with numpyro.plate("g", 3):
        t = numpyro.sample("t", dist.Normal(mu, 1))
    with numpyro.plate("n", X.shape[0]):
        numpyro.sample("y", dist.Normal(t[group] + X, 1.0), obs=y)


rng = np.random.default_rng(0)
X = jnp.asarray(rng.normal(size=30))
Y = 1.0 + 2.0 * X + 0.5 * jnp.asarray(rng.normal(size=30))
YB = (X > 0).astype(jnp.float64)
YC = jnp.asarray(rng.poisson(2.0, size=30), dtype=jnp.float64)
STEPS = 12


def quick_fit(model=lin, guide=None, *args, **kw):
    """A fit of a few steps (no warm start, no early stop)."""
    args = args or (X, Y)
    opts = dict(num_steps=STEPS, progress=False, warm_start=False, early_stop=False)
    opts.update(kw)
    return pa.fit(model, guide or AutoNormal(model), *args, **opts)


class Context:
    """Lazily built shared objects (one fit, one saved file, one checkpoint) per session."""

    def __init__(self, root):
        self.root = root
        self._cache = {}

    def _get(self, name, make):
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    @property
    def result(self):
        return self._get("result", lambda: quick_fit())

    @property
    def saved(self):
        def make():
            path = self.root / "fit.npz"
            self.result.save(path)
            return path

        return self._get("saved", make)

    @property
    def saved_nodata(self):
        def make():
            path = self.root / "fit_nodata.npz"
            self.result.save(path, include_data=False)
            return path

        return self._get("saved_nodata", make)

    @property
    def checkpoint(self):
        def make():
            path = self.root / "ckpt.npz"
            quick_fit(checkpoint=path)
            return path

        return self._get("checkpoint", make)

    def file(self, name, content: bytes):
        path = self.root / name
        path.write_bytes(content)
        return path

    def truncated(self, source, name, fraction=0.5):
        data = source.read_bytes()
        return self.file(name, data[: int(len(data) * fraction)])

    def copy_of(self, source, name):
        return self.file(name, source.read_bytes())


@pytest.fixture(scope="session")
def ctx(tmp_path_factory):
    return Context(tmp_path_factory.mktemp("bad_inputs"))
