"""Source-tree shim: ``probapprox.models`` is the repository's top-level ``models/`` folder.

Built distributions (wheels) map the package ``probapprox.models`` onto ``models/`` through
``[tool.setuptools.package-dir]`` in ``pyproject.toml``, so this file is not installed there.
It serves a source checkout on ``sys.path`` (``PYTHONPATH=.``) and editable installs: it points
the package's ``__path__`` at ``models/`` and runs ``models/__init__.py`` in this namespace, so
``probapprox.models`` and its submodules are the same objects however the package was found.
"""

from pathlib import Path as _Path

__path__ = [str(_Path(__file__).resolve().parents[2] / "models")]
_init = _Path(__path__[0]) / "__init__.py"
exec(compile(_init.read_text(encoding="utf-8"), str(_init), "exec"))
del _Path, _init
