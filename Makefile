# Set-up and everyday commands. Everything installs into ./.venv with Python 3.11.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench bench-quick reliability reliability-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Benchmark and reliability-suite extras (scanpy baseline, schemathesis) on top of the above.
$(VENV)/.installed-extras: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench,reliability]'
	touch $@

## demo: build the synthetic example dataset, analyse it, load example metadata, serve on :8000
demo: $(STAMP)
	$(BIN)/bioblocks demo

## test: ruff check + mypy on src + the import contracts + the whole test suite
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.installed-extras
	$(BIN)/python -m benchmarks

bench-quick: $(VENV)/.installed-extras
	$(BIN)/python -m benchmarks --quick

reliability: $(VENV)/.installed-extras
	$(BIN)/python -m benchmarks.reliability

reliability-quick: $(VENV)/.installed-extras
	$(BIN)/python -m benchmarks.reliability --quick

clean:
	rm -rf $(VENV) files .pytest_cache
