# Two commands for a newcomer: `make demo` and `make test`. Each bootstraps .venv itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean openapi

$(STAMP): pyproject.toml setup.py src/tailor/trace/_otlp.c platform/pyproject.toml deps/debian.txt
	scripts/bootstrap-debian
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./platform
	$(BIN)/python -m waveform.protos
	scripts/install-buf
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m waveform demo $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src platform/src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/pytest
	# The BFF suite again with users and catalog called over each RPC wire (docs/grpc.md):
	# Connect with protobuf and gRPC (the demo's), less the schemathesis fuzzing of the BFFs'
	# own surface (two thirds of the suite's time, run above); and the fault tests that fault
	# those two (Connect: tests/faults/faultproxy.py, gRPC: tests/faults/grpcfaultproxy.py);
	# on the demo's wire, the security suite too.
	WAVEFORM_UPSTREAMS=connect $(BIN)/pytest tests/waveform/bffs -k "not schemathesis"
	WAVEFORM_UPSTREAMS=connect $(BIN)/pytest tests/faults -m users_catalog
	WAVEFORM_UPSTREAMS=grpc $(BIN)/pytest tests/waveform/bffs -k "not schemathesis"
	WAVEFORM_UPSTREAMS=grpc $(BIN)/pytest tests/faults -m users_catalog
	WAVEFORM_UPSTREAMS=grpc $(BIN)/pytest tests/security

lint: $(STAMP)
	$(BIN)/ruff check src platform/src tests benchmarks examples
	$(BIN)/ruff format --check src platform/src tests benchmarks examples

# Refresh the committed OpenAPI documents after a route or response changes (docs/openapi.md).
openapi: $(STAMP)
	for bff in mobile web public partner tv; do \
	  $(BIN)/python -m tailor.govern openapi waveform.bffs.$$bff.app --write docs/openapi/$$bff.json; \
	done

bench: $(STAMP)
	$(BIN)/python -m benchmarks.tracing
	$(BIN)/python -m benchmarks.live
	$(BIN)/python -m benchmarks.read_your_writes
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
