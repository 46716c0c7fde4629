"""Bad inputs to ``FitResult``, ``save``/``load`` and checkpoints: clear errors, no silent loads."""

from __future__ import annotations

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.autoguide import AutoDelta, AutoNormal

import probapprox as pa
from tests.bad_inputs.conftest import (
    STEPS,
    Case,
    X,
    Y,
    check,
    lin,
    lin_normal_scale,
    lin_student,
    lin_wide_prior,
    other,
    quick_fit,
)

NOT_OURS = pa.NotAProbapproxFile


def foreign_npz(ctx, name="foreign.npz"):
    path = ctx.root / name
    np.savez(path, a=np.arange(3))
    return path


def header_npz(ctx, header, name):
    path = ctx.root / name
    np.savez(path, header=np.array(json.dumps(header) if isinstance(header, dict) else header))
    return path


def npy_file(ctx):
    path = ctx.root / "array.npy"
    np.save(path, np.arange(3))
    return path


def load(path_fn, model=lin, *args):
    return lambda ctx: pa.load(path_fn(ctx), model, *args)


RESULT = [
    Case("sample(0)", lambda c: c.result.sample(0), ValueError, r"num_samples"),
    Case("sample(-5)", lambda c: c.result.sample(-5), ValueError, r"num_samples"),
    Case("sample(2.5)", lambda c: c.result.sample(2.5), ValueError, r"num_samples"),
    Case("sample('10')", lambda c: c.result.sample("10"), ValueError, r"num_samples"),
    Case("sample(seed=-1)", lambda c: c.result.sample(10, seed=-1), ValueError, r"seed"),
    Case("sample(seed=0.5)", lambda c: c.result.sample(10, seed=0.5), ValueError, r"seed"),
    Case(
        "diagnostics(num_samples=1)",
        lambda c: c.result.diagnostics(num_samples=1),
        ValueError,
        r"num_samples >= 100",
    ),
    Case(
        "diagnostics(num_samples=50)",
        lambda c: c.result.diagnostics(num_samples=50),
        ValueError,
        r"num_samples",
    ),
    Case("diagnostics(0)", lambda c: c.result.diagnostics(0), ValueError, r"num_samples"),
    Case("to_arviz(0)", lambda c: c.result.to_arviz(0), ValueError, r"num_samples"),
    Case("to_arviz(seed=-3)", lambda c: c.result.to_arviz(10, seed=-3), ValueError, r"seed"),
    Case(
        "save into a missing folder",
        lambda c: c.result.save(c.root / "missing" / "f.npz"),
        FileNotFoundError,
        r"path.*missing",
    ),
    Case("save onto a folder", lambda c: c.result.save(c.root), IsADirectoryError, r"path"),
    Case("save(path=3)", lambda c: c.result.save(3), TypeError, r"path"),
    Case(
        "diagnostics after a data-free load",
        lambda c: pa.load(c.saved_nodata, lin).diagnostics(200),
        ValueError,
        r"probapprox.load\(path, model",
    ),
]

LOAD = [
    Case("load missing file", load(lambda c: c.root / "nope.npz"), FileNotFoundError, r"nope"),
    Case("load a folder", load(lambda c: c.root), NOT_OURS, r"directory"),
    Case("load empty file", load(lambda c: c.file("empty.npz", b"")), NOT_OURS, r"empty"),
    Case(
        "load text file",
        load(lambda c: c.file("text.npz", b"hello, world\n" * 10)),
        NOT_OURS,
        r"text.npz.*not a probapprox file",
    ),
    Case(
        "load binary junk",
        load(lambda c: c.file("junk.npz", bytes(range(256)) * 4)),
        NOT_OURS,
        r"junk.npz",
    ),
    Case(
        "load truncated (half)",
        load(lambda c: c.truncated(c.saved, "half.npz")),
        NOT_OURS,
        r"half.npz.*truncated",
    ),
    Case(
        "load truncated (90%)",
        load(lambda c: c.truncated(c.saved, "most.npz", 0.9)),
        NOT_OURS,
        r"most.npz",
    ),
    Case(
        "load truncated (10 bytes)",
        load(lambda c: c.truncated(c.saved, "ten.npz", 0.0001)),
        NOT_OURS,
        r"ten.npz",
    ),
    Case("load foreign npz", load(foreign_npz), NOT_OURS, r"foreign.npz.*without a probapprox"),
    Case("load .npy", load(npy_file), NOT_OURS, r"array.npy.*\.npy"),
    Case(
        "load other format",
        load(lambda c: header_npz(c, {"format": "other"}, "other.npz")),
        NOT_OURS,
        r"other.npz.*'other'.*not a fit saved by probapprox",
    ),
    Case(
        "load header not JSON",
        load(lambda c: header_npz(c, "{not json", "badjson.npz")),
        NOT_OURS,
        r"badjson.npz",
    ),
    Case(
        "load header JSON list",
        load(lambda c: header_npz(c, "[1, 2]", "list.npz")),
        NOT_OURS,
        r"list.npz",
    ),
    Case(
        "load header missing entries",
        load(lambda c: header_npz(c, {"format": "probapprox-fit-1"}, "partial.npz")),
        NOT_OURS,
        r"partial.npz.*incomplete",
    ),
    Case(
        "load a checkpoint",
        load(lambda c: c.checkpoint),
        NOT_OURS,
        r"ckpt.npz.*probapprox-checkpoint-1.*not a fit saved",
    ),
    Case(
        "load with model=None",
        lambda c: pa.load(c.saved, None),
        TypeError,
        r"model",
    ),
    Case(
        "load with another support (HalfNormal -> Normal)",
        load(lambda c: c.saved, lin_normal_scale),
        ValueError,
        r"'s'.*support.*Positive.*Real|'s'.*support",
    ),
    Case(
        "load data-free with another support",
        load(lambda c: c.saved_nodata, lin_normal_scale, X, Y),
        ValueError,
        r"'s'.*support",
    ),
    Case(
        "load with other latent sites",
        load(lambda c: c.saved, other),
        ValueError,
        r"latent sites.*'c'",
    ),
]


def resume(ckpt, model=lin, *args, guide=None, **kw):
    def call(c):
        path = ckpt(c)
        return quick_fit(
            model, guide or AutoNormal(model), *(args or (X, Y)), checkpoint=path, **kw
        )

    return call


def copy(c):
    return c.copy_of(c.checkpoint, f"copy{len(os.listdir(c.root))}.npz")


CHECKPOINTS = [
    Case(
        "checkpoint in a missing folder",
        resume(lambda c: c.root / "no" / "such" / "ckpt.npz"),
        FileNotFoundError,
        r"checkpoint=.*folder.*does not exist",
    ),
    Case("checkpoint is a folder", resume(lambda c: c.root), IsADirectoryError, r"checkpoint"),
    Case(
        "checkpoint empty file",
        resume(lambda c: c.file("e.ckpt", b"")),
        NOT_OURS,
        r"checkpoint.*e.ckpt.*empty",
    ),
    Case(
        "checkpoint text file",
        resume(lambda c: c.file("t.ckpt", b"loss,step\n1,2\n")),
        NOT_OURS,
        r"checkpoint.*t.ckpt",
    ),
    Case(
        "checkpoint text file, resume=False (not overwritten)",
        resume(lambda c: c.file("t2.ckpt", b"my data\n"), resume=False),
        NOT_OURS,
        r"will not overwrite.*t2.ckpt",
    ),
    Case("checkpoint foreign npz", resume(foreign_npz), NOT_OURS, r"checkpoint.*foreign.npz"),
    Case(
        "checkpoint truncated",
        resume(lambda c: c.truncated(c.checkpoint, "trunc.ckpt")),
        NOT_OURS,
        r"checkpoint.*trunc.ckpt",
    ),
    Case(
        "checkpoint is a saved fit",
        resume(lambda c: c.saved),
        NOT_OURS,
        r"checkpoint.*probapprox-fit-1",
    ),
    Case(
        "resume with other data (y + 10)",
        resume(copy, lin, X, Y + 10),
        pa.CheckpointMismatch,
        r"other data",
    ),
    Case(
        "resume with other covariates",
        resume(copy, lin, X * 2, Y),
        pa.CheckpointMismatch,
        r"other data",
    ),
    Case(
        "resume with another likelihood",
        resume(copy, lin_student),
        pa.CheckpointMismatch,
        r"another model.*'y'.*distribution",
    ),
    Case(
        "resume with another support",
        resume(copy, lin_normal_scale),
        pa.CheckpointMismatch,
        r"another model.*'s'",
    ),
    Case(
        "resume with another prior scale",
        resume(copy, lin_wide_prior),
        pa.CheckpointMismatch,
        r"another model.*log density",
    ),
    Case("resume with another seed", resume(copy, seed=7), pa.CheckpointMismatch, r"seed"),
    Case(
        "resume with other num_steps",
        resume(copy, num_steps=STEPS + 1),
        pa.CheckpointMismatch,
        r"num_steps",
    ),
    Case(
        "resume with another guide",
        resume(copy, guide=AutoDelta(lin)),
        pa.CheckpointMismatch,
        r"guide",
    ),
]


@pytest.mark.parametrize("case", RESULT + LOAD + CHECKPOINTS, ids=lambda c: c.id)
def test_bad_input(case, ctx):
    check(case, ctx)


def test_enough_cases():
    assert len(RESULT + LOAD + CHECKPOINTS) >= 45


def test_resume_with_same_inputs_still_works(ctx):
    """The fingerprint is stable: the same fit resumes from its checkpoint (no step run)."""
    path = ctx.copy_of(ctx.checkpoint, "same.npz")
    again = quick_fit(checkpoint=path, callback=lambda *a: pytest.fail("ran a step"))
    np.testing.assert_array_equal(again.losses, ctx.result.losses)


def test_checkpoint_dir_checked_before_any_step(ctx):
    """A missing checkpoint folder fails before the first step, not at the final write."""
    steps = []
    with pytest.raises(FileNotFoundError):
        quick_fit(checkpoint=ctx.root / "gone" / "c.npz", callback=lambda s, _: steps.append(s))
    assert steps == []


def test_empty_placeholder_is_overwritten_with_resume_false(ctx):
    path = ctx.file("placeholder.npz", b"")
    r = quick_fit(checkpoint=path, resume=False)
    np.testing.assert_array_equal(r.losses, ctx.result.losses)
    assert path.stat().st_size > 0


def test_load_with_same_model_is_identical(ctx):
    loaded = pa.load(ctx.saved, lin)
    a, b = loaded.sample(50, seed=3), ctx.result.sample(50, seed=3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_save_overwrite_leaves_no_temporary(ctx):
    path = ctx.root / "twice.npz"
    ctx.result.save(path)
    ctx.result.save(path)
    assert sorted(p.name for p in ctx.root.glob("twice*")) == ["twice.npz"]
    assert pa.load(path, lin).params.keys() == ctx.result.params.keys()


def test_masked_out_of_support_value_is_allowed():
    """A value masked out of the likelihood is not data: no error (no false positive)."""
    import numpyro
    import numpyro.distributions as dist

    def masked(X, y, m):
        a = numpyro.sample("a", dist.Normal(0, 5))
        with numpyro.plate("n", X.shape[0]):
            numpyro.sample("y", dist.Bernoulli(logits=a * X).mask(m), obs=y)

    y = (X > 0).astype(jnp.float64).at[4].set(2.0)
    r = quick_fit(masked, None, X, y, jnp.arange(30) != 4)
    assert np.all(np.isfinite(r.losses))
