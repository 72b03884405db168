# Two commands for a newcomer: `make demo` and `make test`. Each bootstraps .venv itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml platform/pyproject.toml deps/debian.txt
	scripts/bootstrap-debian
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./platform
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m waveform demo $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src platform/src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src platform/src tests benchmarks examples
	$(BIN)/ruff format --check src platform/src tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python -m benchmarks.tracing
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
