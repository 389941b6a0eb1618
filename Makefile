# Set-up and everyday commands. Everything installs into ./.venv with Python 3.11.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench bench-quick reliability reliability-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench,reliability]'
	touch $(STAMP)

## demo: build the synthetic example dataset, analyse it, load example metadata, serve on :8000
demo: $(STAMP)
	$(BIN)/bioblocks demo

## test: ruff check + the whole test suite
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

reliability: $(STAMP)
	$(BIN)/python -m benchmarks.reliability

reliability-quick: $(STAMP)
	$(BIN)/python -m benchmarks.reliability --quick

clean:
	rm -rf $(VENV) files .pytest_cache
