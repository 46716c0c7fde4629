"""The ``probapprox`` command: ``probapprox demo`` and ``probapprox fit``.

Every bad argument is refused before any work starts, argparse-style (``probapprox fit: error:
argument --steps: ...``, exit status 2): integer options are checked when parsed, the guide name,
the model and the output folder (created if missing, then probed for writing) before the fit.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["main", "resolve_model"]

_BUNDLED = "probapprox.models"
_OLD = "models"  # the bundled models' top-level name before 0.2 (an alias, with a notice)


def _setup_jax() -> None:
    """Entry-point configuration: 64-bit floats and JAX's persistent compilation cache.

    x64: the Cholesky-based cores need it. The cache keeps compiled programs on disk, so a
    second ``probapprox fit`` of the same model skips most compilation. Its folder is
    ``$PROBAPPROX_JAX_CACHE`` (``off`` turns it off), else an existing
    ``JAX_COMPILATION_CACHE_DIR``, else ``~/.cache/probapprox/jax``.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("PROBAPPROX_JAX_CACHE", "")
    if cache.lower() in ("off", "0", "false", "no") or jax.config.jax_compilation_cache_dir:
        return
    cache = cache or str(Path.home() / ".cache" / "probapprox" / "jax")
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def _int_at_least(minimum: int) -> Any:
    """An argparse ``type`` accepting integers ``>= minimum`` (argparse names the argument)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _is_old_alias(module_name: str) -> bool:
    """True if ``module_name`` is ``models[.x]`` and no user module of that name shadows it."""
    if module_name != _OLD and not module_name.startswith(_OLD + "."):
        return False
    try:
        spec = importlib.util.find_spec(_OLD)
    except (ImportError, ValueError):
        return True
    if spec is None or spec.origin is None:
        return True
    bundled = importlib.import_module(_BUNDLED)
    return Path(spec.origin).resolve().parent == Path(bundled.__path__[0]).resolve()


def resolve_model(spec: str) -> tuple[str, Any, tuple, dict]:
    """Resolve ``MODULE:NAME`` to ``(name, model, args, kwargs)``.

    ``NAME`` may be a bundled model name when ``MODULE`` is ``probapprox.models`` (looked up in
    :data:`probapprox.models.MODELS` first, so a submodule of the same name does not shadow
    it), a :class:`probapprox.models.BundledModel` (its data are used), a function of a bundled
    model (its bundled data are used), or any NumPyro model that takes no required arguments.
    The old spelling ``models:NAME`` still works, with a notice on stderr, unless a module of
    the user's called ``models`` is importable.

    Raises:
        ValueError: If ``spec`` is malformed, its module cannot be imported, or it names no
            model; the message lists the valid names where there is a list.

    """
    if spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"expected MODULE:NAME (e.g. {_BUNDLED}:eight_schools); got {spec!r}")
    module_name, attr = spec.split(":")
    if _is_old_alias(module_name):
        module_name = "probapprox." + module_name
        print(
            f"note: '{spec}' is the old name of a bundled model; use '{module_name}:{attr}' "
            "(the bundled models install as probapprox.models).",
            file=sys.stderr,
        )
    if os.getcwd() not in sys.path:  # a user's own module in the working directory
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module {module_name!r}: {err}") from None
    from probapprox.models import MODELS

    bundled = module_name == _BUNDLED
    obj = MODELS.get(attr) if bundled else getattr(module, attr, None)
    if obj is None:
        if bundled:
            avail = sorted(MODELS)
        else:
            avail = sorted(n for n in dir(module) if not n.startswith("_"))
        hint = (
            f" (the bundled model is {_BUNDLED}:{attr})" if attr in MODELS and not bundled else ""
        )
        raise ValueError(
            f"{module_name} has no model {attr!r}{hint}. Available: {', '.join(avail)}."
        )
    if hasattr(obj, "model") and hasattr(obj, "args"):
        return attr, obj.model, tuple(obj.args), dict(obj.kwargs)
    if isinstance(obj, ModuleType) or not callable(obj):
        raise ValueError(f"{spec} is not a NumPyro model ({type(obj).__name__}, not a function)")
    bundles = [b for b in MODELS.values() if b.model is obj]
    if bundles:
        bundle = next((b for b in bundles if b.name == attr), bundles[0])
        return bundle.name, bundle.model, tuple(bundle.args), dict(bundle.kwargs)
    return attr, obj, (), {}


def _check_out(out: str | os.PathLike) -> Path:
    """Create the folder ``out`` if missing and check that a file can be written into it.

    Raises:
        ValueError: If ``out`` is a file, cannot be created, or is not writable.

    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ValueError(f"cannot write into {str(path)!r}: {err.strerror or err}") from None
    return path


def _cmd_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from probapprox.demo import run

    try:
        _check_out(args.out)
    except ValueError as err:
        parser.error(f"argument --out: {err}")
    from probapprox.models import MODELS

    unknown = [m for m in args.models or () if m not in MODELS]
    if unknown:
        parser.error(
            f"argument --models: unknown bundled model(s) {', '.join(map(repr, unknown))}. "
            f"Valid names: {', '.join(sorted(MODELS))}."
        )
    run(args.out, quick=args.quick, models=args.models, workers=args.workers)
    return 0


def _cmd_fit(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import probapprox as pa

    try:
        pa.guides.guide_class(args.guide)
    except ValueError as err:
        parser.error(f"argument --guide: {err}")
    try:
        name, model, margs, mkwargs = resolve_model(args.model)
    except ValueError as err:
        parser.error(f"argument model: {err}")
    try:
        out = _check_out(args.out)
    except ValueError as err:
        parser.error(f"argument --out: {err}")
    guide = pa.guides.make_guide(args.guide, model)
    result = pa.fit(
        model,
        guide,
        *margs,
        num_steps=args.steps,
        seed=args.seed,
        progress=not args.no_progress,
        **mkwargs,
    )
    print(result.diagnostics(args.draws, warn=False))
    stem = f"{name}__{args.guide}"
    tree = result.to_arviz(min(args.draws, 2000))
    tree.to_netcdf(out / f"{stem}.nc")
    result.save(out / f"{stem}_fit.npz")
    pa.diagnostics.plot_fits(
        {args.guide: tree}, out / f"{stem}.png", title=f"{name} with {args.guide}"
    )
    print(f"wrote {out / (stem + '.nc')}, {out / (stem + '_fit.npz')}, {out / (stem + '.png')}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="probapprox", description=__doc__.split("\n", 1)[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="fit the bundled models; tables, ArviZ files and plots")
    d.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    d.add_argument(
        "--quick", action="store_true", help="fewer models (under 90 s on a quiet machine)"
    )
    d.add_argument("--models", nargs="+", help="only these bundled models (no other sections)")
    d.add_argument(
        "--workers", type=_int_at_least(1), help="processes fitting models at once (default: CPUs)"
    )
    d.set_defaults(func=_cmd_demo, parser=d)
    f = sub.add_parser("fit", help="fit one model: probapprox fit MODULE:NAME --guide NAME")
    f.add_argument("model", help=f"MODULE:NAME, e.g. {_BUNDLED}:eight_schools or mymodels:model")
    f.add_argument("--guide", default="AutoMultivariateNormal", help="guide name")
    f.add_argument("--steps", type=_int_at_least(1), default=5000, help="optimisation steps")
    f.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (>= 0)")
    f.add_argument(
        "--draws", type=_int_at_least(2), default=10_000, help="draws for the diagnostics"
    )
    f.add_argument("--out", default="fit_out", help="output folder (checked before the fit)")
    f.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    f.set_defaults(func=_cmd_fit, parser=f)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argument errors exit with status 2)."""
    args = _parser().parse_args(argv)
    _setup_jax()
    return args.func(args, args.parser)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
