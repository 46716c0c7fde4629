#!/usr/bin/env bash
# Create the benchmark-only peer venv for bench_laplace_digits.py: laplace-torch 0.3 on CPU torch.
#
# The CPU torch 2.13.0 wheel on this machine's local index is cp311 only, so the venv uses a
# Python 3.11 interpreter (PYTHON, default /usr/bin/python3), not the project's 3.12 .venv.
# laplace-torch pulls a CUDA-only torchvision whose import fails on CPU; laplace does not need
# it at run time, so it is uninstalled. Nothing here is a runtime dependency of probapprox.
#
# Usage: benchmarks/setup_torch_env.sh [VENV_DIR]   (default: <repo>/.venv-torch)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-torch}"
PYTHON="${PYTHON:-/usr/bin/python3}"

"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' || {
    echo "setup_torch_env.sh: PYTHON=$PYTHON must be Python 3.11 (the torch wheel is cp311)" >&2
    exit 1
}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet "torch==2.13.0" "laplace-torch==0.3.*"
"$VENV/bin/python" -m pip uninstall --quiet -y torchvision || true
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md

import laplace
import torch

print(f"torch {torch.__version__}, laplace-torch {md.version('laplace-torch')}: OK")
PY
