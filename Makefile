# bluecurrent_sync — the two front-door commands are `make demo` and `make test`.
# Everything runs inside .venv, which this Makefile creates and keeps in step with the
# packaging files; a fresh clone needs only a Python 3.10+ and access to PyPI.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= simulator,dev
MATRIX ?= 3.10 3.11 3.12 3.13
LINTED := $(wildcard bluecurrent_sync codegen tests examples bench)

.DEFAULT_GOAL := help
.PHONY: help venv test lint typecheck pytest codegen codegen-check test-matrix demo bench clean

help:
	@echo "make demo         guided tour of the SDK against the embedded simulator"
	@echo "make test         codegen freshness + ruff + mypy --strict + pytest (creates .venv)"
	@echo "make codegen      regenerate bluecurrent_sync/models/_generated.py from schemas/"
	@echo "make codegen-check  fail if the generated models are stale"
	@echo "make test-matrix  run pytest under every Python in MATRIX ($(MATRIX))"
	@echo "make bench        benchmarks (prints ratios; see bench/RESULTS.md)"

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

venv: $(STAMP)

codegen: $(STAMP)
	$(BIN)/python -m codegen

codegen-check: $(STAMP)
	$(BIN)/python -m codegen --check

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy --strict bluecurrent_sync

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: codegen-check lint typecheck pytest

test-matrix:
	@bash .ci/test-matrix $(MATRIX)

demo: $(STAMP)
	$(BIN)/python -m bluecurrent_sync.demo

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS),bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(VENV)-* build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
