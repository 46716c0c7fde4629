"""The ``probapprox`` command: ``probapprox demo`` and ``probapprox fit``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "resolve_model"]


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


def resolve_model(spec: str) -> tuple[str, Any, tuple, dict]:
    """Resolve ``MODULE:NAME`` to ``(name, model, args, kwargs)``.

    ``NAME`` may be a :class:`models.BundledModel` (its data are used), a bundled model
    name when ``MODULE`` is ``models``, a function of a bundled model (its bundled data
    are used), or any NumPyro model that takes no required arguments.
    """
    if ":" not in spec:
        raise SystemExit(
            f"error: expected MODULE:FUNCTION (e.g. models:eight_schools); got {spec!r}."
        )
    module_name, attr = spec.split(":", 1)
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SystemExit(f"error: cannot import module {module_name!r}: {err}") from None
    from models import MODELS

    obj = getattr(module, attr, None)
    if obj is None and module_name == "models" and attr in MODELS:
        obj = MODELS[attr]
    if obj is None:
        public = sorted(n for n in dir(module) if not n.startswith("_"))
        if module_name == "models":
            public = sorted(MODELS)
        raise SystemExit(
            f"error: {module_name} has no model {attr!r}. Available: {', '.join(public)}."
        )
    if hasattr(obj, "model") and hasattr(obj, "args"):
        return attr, obj.model, tuple(obj.args), dict(obj.kwargs)
    if not callable(obj):
        raise SystemExit(f"error: {spec} is not a NumPyro model (not callable).")
    bundles = [b for b in MODELS.values() if b.model is obj]
    if bundles:
        bundle = next((b for b in bundles if b.name == attr), bundles[0])
        return bundle.name, bundle.model, tuple(bundle.args), dict(bundle.kwargs)
    return attr, obj, (), {}


def _cmd_demo(args: argparse.Namespace) -> int:
    from probapprox._demo import format_table, run_demo

    print(f"probapprox demo ({'quick' if args.quick else 'full'}): writing to {args.out}/")
    try:
        rows = run_demo(args.out, quick=args.quick, models=args.models)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print()
    print(format_table(rows))
    if not args.models:  # the Laplace section runs with the full plan only
        from probapprox._demo_laplace import format_laplace_table, run_laplace_demo

        print("\nLaplace on the digits MLP (last-layer KFAC, marglik prior precision):", flush=True)
        print(format_laplace_table(run_laplace_demo(args.out, quick=args.quick)))
        if not args.quick:
            from probapprox._demo_gp import format_gp_table, run_gp_demo

            print("\nLatent-GP classification of the wells data (DKLGP):", flush=True)
            print(format_gp_table(run_gp_demo(args.out)))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    import probapprox as pa
    from probapprox.diagnostics import plot_fits

    name, model, margs, mkwargs = resolve_model(args.model)
    try:
        guide = pa.guides.make_guide(args.guide, model)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = pa.fit(
        model,
        guide,
        *margs,
        num_steps=args.steps,
        seed=args.seed,
        progress=not args.no_progress,
        **mkwargs,
    )
    diag = result.diagnostics(args.draws, warn=False)
    print(diag)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{name}__{args.guide}"
    tree = result.to_arviz(min(args.draws, 2000))
    tree.to_netcdf(out / f"{stem}.nc")
    result.save(out / f"{stem}_fit.npz")
    plot_fits({args.guide: tree}, out / f"{stem}.png", title=f"{name} with {args.guide}")
    print(f"wrote {out / (stem + '.nc')}, {out / (stem + '_fit.npz')}, {out / (stem + '.png')}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="probapprox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="fit the bundled models; table, ArviZ files and plots")
    d.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    d.add_argument("--quick", action="store_true", help="fewer models and steps (< 2 minutes)")
    d.add_argument("--models", nargs="+", help="only these bundled models (no Laplace section)")
    d.set_defaults(func=_cmd_demo)
    f = sub.add_parser("fit", help="fit one model: probapprox fit MODULE:FUNCTION --guide NAME")
    f.add_argument("model", help="MODULE:FUNCTION, e.g. models:eight_schools or mymodels:model")
    f.add_argument("--guide", default="AutoMultivariateNormal", help="guide name")
    f.add_argument("--steps", type=int, default=5000, help="optimisation steps")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--draws", type=int, default=10_000, help="draws for the diagnostics")
    f.add_argument("--out", default="fit_out", help="output folder")
    f.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    f.set_defaults(func=_cmd_fit)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    _setup_jax()
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
