# GNU make.  `make test` builds .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV = .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
PYTEST_ARGS ?=
# Installs PostgreSQL and PgBouncer when missing (SYSTEM_DEPS=true to skip that).
SYSTEM_DEPS ?= .ci/system-deps

.PHONY: all install test demo lint bench screenshots clean

all: test

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

test: $(STAMP)
	$(SYSTEM_DEPS)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/dendrux demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

# The README's dashboard screenshots, taken by the test suite's browser (Chromium).
screenshots: $(STAMP)
	DENDRUX_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/test_dashboard_screenshots.py -k sqlite

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
