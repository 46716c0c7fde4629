# The two commands (see README): `make demo` runs the main job, `make test` runs the tests.
# Both create .venv with Python >= 3.12 if missing and install the package first.
VENV ?= .venv
OUT ?= demo_out
PYTEST_ARGS ?=
# tests are mostly XLA-compile bound and single-threaded: one worker per core halves the wall time
PYTEST_WORKERS ?= auto

.PHONY: demo test test-all lint bench bench-torch-env clean

demo:
	@scripts/ensure_venv.sh
	$(VENV)/bin/probapprox demo --out $(OUT)

test:
	@scripts/ensure_venv.sh test
	$(VENV)/bin/python -m pytest -m "not slow" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-all:
	@scripts/ensure_venv.sh test
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint:
	@scripts/ensure_venv.sh test
	$(VENV)/bin/ruff check probapprox models tests benchmarks examples

bench:
	@scripts/ensure_venv.sh test
	$(VENV)/bin/python benchmarks/bench_fit_overhead.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache

# separate Python 3.11 venv with CPU torch + laplace-torch 0.3, for benchmarks/bench_laplace_digits.py only
bench-torch-env:
	benchmarks/setup_torch_env.sh
