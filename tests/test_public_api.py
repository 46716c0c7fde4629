"""The public API: documented, listed in docs/api.md, and no reach into other packages' privates.

The public surface is what the packages list in ``__all__``, walked from the roots of
``scripts/gen_api_doc.py`` (which writes ``docs/api.md`` from the same walk).
"""

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_api_doc", ROOT / "scripts" / "gen_api_doc.py")
gen_api_doc = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("gen_api_doc", gen_api_doc)  # dataclasses look the module up
_spec.loader.exec_module(gen_api_doc)

# Public names allowed without a docstring (none: keep it that way).
UNDOCUMENTED_ALLOWED: set[str] = set()  # every public name has a docstring

# (importing module, imported private name) pairs allowed (none: keep it that way).
PRIVATE_IMPORTS_ALLOWED: set[tuple[str, str]] = set()  # no exceptions left


@pytest.fixture(scope="module")
def entries():
    return gen_api_doc.collect()


def test_every_public_name_has_a_docstring(entries):
    missing = [e.qualname for e in entries if not e.summary]
    assert sorted(set(missing) - UNDOCUMENTED_ALLOWED) == []


def test_every_public_name_is_in_docs_api_md(entries):
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    absent = [e.qualname for e in entries if f"`{e.qualname}`" not in text]
    assert absent == [], "run `python scripts/gen_api_doc.py` to regenerate docs/api.md"
    # and nothing stale: no removed name, no old summary line
    stale = sorted(set(text.splitlines()) - set(gen_api_doc.render(entries).splitlines()))
    assert stale == [], "run `python scripts/gen_api_doc.py` to regenerate docs/api.md"


def test_the_walk_covers_every_subpackage_and_the_contract(entries):
    names = {e.qualname for e in entries}
    import probapprox as pa

    subpackages = {p.name for p in (ROOT / "probapprox").iterdir() if (p / "__init__.py").exists()}
    subpackages -= {"demo", "models"}  # walked as their own roots, not imported by probapprox
    assert {f"probapprox.{s}" for s in subpackages} <= names
    assert "families" in pa.__all__
    contract = {
        "probapprox.fit", "probapprox.load", "probapprox.FitResult",
        "probapprox.guides.AutoIsoGaussianMixture", "probapprox.guides.AutoNormalizingFlow",
        "probapprox.guides.AutoLaplace", "probapprox.estimators.MixtureELBO",
        "probapprox.estimators.PathELBO", "probapprox.optim.IsoMixtureDescent",
        "probapprox.gp.LatentGP", "probapprox.gp.Matern32", "probapprox.laplace.fit_laplace",
        "probapprox.logits.predictive", "probapprox.logits.ece", "probapprox.models.get_model",
        "probapprox.demo.run",
    }  # fmt: skip
    assert contract <= names


def test_internals_are_not_public(entries):
    names = {e.qualname for e in entries}
    internals = {
        "probapprox.families.flows.planar_u_hat",
        "probapprox.families.flows.radial_alpha_beta",
        "probapprox.families.flows.score_step",
        "probapprox.families.flows.spline_forward",
        "probapprox.families.sic_gaussian.DIAG_FLOOR",
        "probapprox.diagnostics.psis_khat_threshold",
        "probapprox.optim.FBGVILoss",
    }
    assert names & internals == set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "models":  # installed as probapprox.models
        parts.insert(0, "probapprox")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[str]:
    """Dotted names imported by the file: ``a.b`` for ``import a.b``, ``a.b.c`` for ``from a.b
    import c`` (so ``from pkg import _private`` counts as reaching ``pkg._private``)."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parts + ([base] if base else []))
            out += [f"{base}.{a.name}" for a in node.names]
    return out


def _private_owner(target: str) -> str | None:
    """The package that owns the first private component of ``target`` (None: all public)."""
    parts = target.split(".")
    if parts[0] != "probapprox":
        return None
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def _offenders() -> set[tuple[str, str]]:
    found = set()
    files = [*(ROOT / "probapprox").rglob("*.py"), *(ROOT / "models").rglob("*.py")]
    for path in files:
        module = _module_name(path)
        for target in _imports(path, module):
            owner = _private_owner(target)
            if owner is not None and module != owner and not module.startswith(owner + "."):
                found.add((module, target))
    return found


def test_private_owner_rule():
    assert _private_owner("probapprox.linalg._padded.matvec") == "probapprox.linalg"
    assert _private_owner("probapprox._checks.check_int") == "probapprox"
    assert _private_owner("probapprox.gp.LatentGP") is None
    assert _private_owner("numpy._core") is None


def test_no_module_imports_another_packages_private_module():
    found = _offenders()
    new = sorted(found - PRIVATE_IMPORTS_ALLOWED)
    assert new == [], "import through the package's public __init__ instead: " + repr(new)
    # an allow-list entry that no longer occurs must be removed, so the list only shrinks
    assert sorted(PRIVATE_IMPORTS_ALLOWED - found) == []


def test_examples_use_only_the_public_api():
    private = {}
    for path in sorted((ROOT / "examples").glob("*.py")):
        found = [t for t in _imports(path, path.stem) if _private_owner(t) is not None]
        if found:
            private[path.name] = found
    assert private == {}
