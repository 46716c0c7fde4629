#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 interpreter and install probapprox into it.
# Idempotent: reinstalls only when pyproject.toml changed since the last install.
# Usage: scripts/ensure_venv.sh [extras]   (extras e.g. "test")
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
EXTRAS=${1:-}

is_ok() {  # is_ok PYTHON -> 0 when it runs and is >= 3.12
    "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    local tried=()
    local cands=()
    [ -n "${PYTHON:-}" ] && cands+=("$PYTHON")
    cands+=(python3.12 python3.13 python3.14)
    local root
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for v in "$root"/versions/3.12* "$root"/versions/3.13* "$root"/versions/3.14*; do
        [ -x "$v/bin/python3" ] && cands+=("$v/bin/python3")
    done
    cands+=(python3 python)
    for c in "${cands[@]}"; do
        tried+=("$c")
        if command -v "$c" >/dev/null 2>&1 && is_ok "$c"; then
            command -v "$c"
            return 0
        fi
    done
    echo "error: probapprox needs Python >= 3.12 (ArviZ 1.x and JAX >= 0.11 require it)." >&2
    echo "Tried: ${tried[*]}" >&2
    echo "Install one (e.g. 'pyenv install 3.12') or point PYTHON=/path/to/python3.12 at it." >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ] || ! is_ok "$VENV/bin/python"; then
    PY=$(find_python)
    echo "Creating $VENV with $PY ($("$PY" --version 2>&1))"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

spec="."
[ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
stamp="$VENV/.probapprox-installed-$(echo "$EXTRAS" | tr ',' '_')"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing probapprox ($spec) into $VENV ..."
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import probapprox" || { echo "error: install failed" >&2; exit 1; }
    touch "$stamp"
fi
