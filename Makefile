# bluecurrent_sync — the two front-door commands are `make demo` and `make test`.
# Everything runs inside .venv, which this Makefile creates and keeps in step with the
# packaging files; a fresh clone needs only a Python 3.10+ and access to PyPI.
#
# The venv is filled in two stages: `make demo` installs only the package with its runtime
# dependencies and the `simulator` extra (a handful of small packages); `make test` (and every
# other development target) adds the `dev` extra: linters, mypy, pytest, the docs and
# packaging tools.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP  := $(VENV)/.installed-stamp
DOCS_STAMP := $(VENV)/.docs-stamp
EXTRAS ?= simulator,dev
MATRIX ?= 3.10 3.11 3.12 3.13
LINTED := $(wildcard bluecurrent_sync codegen tests examples bench)
# The test files that read the wall clock (quota reset, Amsterdam day, receive times, the
# simulator's day), run again by `make test` with the package's clock moved (tests/test_clock.py):
# a summer afternoon, one minute before midnight in Amsterdam, and half past midnight on the
# night daylight saving starts (the Amsterdam day is ahead of the UTC day), each under another
# machine time zone. CI runs the whole suite under two of these in the Python matrix.
CLOCK_TESTS := tests/test_clock.py tests/test_usage.py tests/test_mirror.py \
	tests/test_convert_equivalence.py tests/test_client.py tests/test_simulator.py \
	tests/test_cli.py tests/test_replay.py tests/test_record.py
MOVED_CLOCKS := 2027-07-15T15:30:00+02:00,America/New_York \
	2027-01-14T23:59:00+01:00,Asia/Kolkata \
	2027-03-28T00:30:00+01:00,Pacific/Kiritimati

.DEFAULT_GOAL := help
.PHONY: help venv test lint typecheck pytest codegen codegen-check test-matrix demo bench \
	docs docs-serve package-check clean mutation

help:
	@echo "make demo           guided tour of the SDK against the embedded simulator (light install)"
	@echo "make test           codegen freshness + ruff + mypy --strict + docs + package check + pytest"
	@echo "                    (+ the clock-reading tests again under three moved clocks)"
	@echo "make docs           build the documentation site into site/ (MkDocs, strict; docs extra only)"
	@echo "make docs-serve     serve the documentation on http://127.0.0.1:8000 while editing"
	@echo "make package-check  build sdist and wheel, twine check, smoke-test the installed wheel"
	@echo "make codegen        regenerate bluecurrent_sync/models/_generated.py from schemas/"
	@echo "make codegen-check  fail if the generated models are stale"
	@echo "make test-matrix    run pytest under every Python in MATRIX ($(MATRIX))"
	@echo "make bench          benchmarks (prints ratios; see bench/RESULTS.md)"
	@echo "make mutation       mutation testing of the correlation core and the transport (tests/MUTATION.md)"

# Stage 1: the package, its runtime dependencies and the simulator extra (what the demo needs).
$(RUNTIME_STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[simulator]'
	@touch $(RUNTIME_STAMP)

# Stage 2: the development tools on top.
$(STAMP): $(RUNTIME_STAMP)
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

# The docs need only the package and the `docs` extra (MkDocs, mkdocstrings), not the dev tools.
$(DOCS_STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	@touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/python -m mkdocs build --strict --quiet --site-dir site

docs-serve: $(DOCS_STAMP)
	$(BIN)/python -m mkdocs serve

package-check: $(STAMP)
	$(BIN)/python .ci/package-check

# Most tests wait on sockets and timers rather than compute, so four workers (pytest-xdist)
# finish in about a third of the time of one, even on two cores.
PYTEST_WORKERS ?= 4

pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)
	@for moved in $(MOVED_CLOCKS); do \
	  instant=$${moved%%,*}; zone=$${moved#*,}; \
	  echo "=== the clock-reading tests at $$instant, machine time zone $$zone"; \
	  TZ=$$zone $(BIN)/python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) \
	    --bluecurrent-now=$$instant \
	    $(CLOCK_TESTS) || exit 1; \
	done

test: codegen-check lint typecheck docs package-check pytest

# Not part of `make test`: mutmut on the correlation core against tests/test_correlation.py;
# prints the score and the survivors, fails below 95% (tests/MUTATION.md).
mutation: $(STAMP)
	$(BIN)/python tests/mutation_report.py

test-matrix:
	@bash .ci/test-matrix $(MATRIX)

demo: $(RUNTIME_STAMP)
	$(BIN)/python -m bluecurrent_sync.demo

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS),bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(VENV)-* build dist site *.egg-info .mypy_cache .ruff_cache .pytest_cache mutants
