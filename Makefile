# The two front-door commands: `make serve` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test setup lint bench

$(BIN)/upslice: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/upslice

setup: $(BIN)/upslice

serve: setup
	$(BIN)/upslice serve

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: setup lint
	scripts/ensure-system-deps
	$(BIN)/pytest

bench: setup
	scripts/ensure-system-deps
	$(BIN)/python bench/run.py
