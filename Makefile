# dropkit developer commands. README's Quick start (`make demo`, `make test`) and CI
# (`.ci/run` -> `make test`) call these verbatim.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Prerequisites run in the order written, even under `make -j`.
.NOTPARALLEL:

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Git does not keep empty folders: only pass the ones that exist to ruff.
LINT_PATHS := $(wildcard src tests examples benchmarks)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv install bootstrap demo services lint types test bench format clean distclean

help:
	@echo "make demo       set everything up, then run the offline demo (dropkit demo)"
	@echo "make test       set everything up, then lint, type-check and run the tests with coverage"
	@echo "make install    create $(VENV) and install dropkit[dev] (only when pyproject.toml changed)"
	@echo "make services   make sure PostgreSQL and Redis answer (scripts/ensure-services.sh)"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make types      mypy --strict"
	@echo "make bench      run benchmarks/*.py"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make clean      remove caches and build artifacts (distclean: also $(VENV) and .dropkit)"

# --- set-up -------------------------------------------------------------------------------------
bootstrap:
	@PYTHON="$(PYTHON)" bash scripts/bootstrap-system.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp, so repeated runs cost nothing.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $@

install: bootstrap $(STAMP)

venv: install

# --- running ------------------------------------------------------------------------------------
demo: install
	$(BIN)/dropkit demo

services:
	@bash scripts/ensure-services.sh

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -e '.[dev,bench]'
	@touch $@

bench: install $(BENCH_STAMP) services
	@shopt -s nullglob; \
	for f in benchmarks/jobs.py benchmarks/*.py; do \
	  if [[ ! -f "$$f" || " $${seen:-} " == *" $$f "* ]]; then continue; fi; \
	  seen="$${seen:-} $$f"; \
	  echo "== $$f"; \
	  $(BIN)/python -P "$$f"; \
	done

# --- checks -------------------------------------------------------------------------------------
lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

types: install
	$(BIN)/mypy

test: install services lint types
	$(BIN)/pytest -W error --cov=dropkit --cov-report=term --cov-fail-under=85

format: install
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

# --- housekeeping -------------------------------------------------------------------------------
clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache htmlcov .coverage .coverage.* coverage.xml
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -print0 \
	  | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) .dropkit
