# kspec: every target sets itself up (venv, package, Graphviz) and is fast when already set up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export KERAS_BACKEND := tensorflow

.PHONY: install demo test test-all test-fast bench lint fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	VENV=$(VENV) bash scripts/ensure_dot.sh
	touch $(STAMP)

install: $(STAMP)
	@VENV=$(VENV) bash scripts/ensure_dot.sh

demo: install
	$(BIN)/python examples/demo.py $(DEMO_ARGS)

test: install
	@bash scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m "not heavy" $(PYTEST_ARGS)

# Everything, the large matrices too (marker `heavy`: every application, long fuzzing, many kills).
test-all: install
	@bash scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not heavy"

bench: install
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/playground_load.py
	$(BIN)/python benchmarks/distributed.py

fuzz: install
	KSPEC_FUZZ_EXAMPLES=100000 $(BIN)/python -m pytest -q tests/test_fuzz.py -p no:randomly -s

lint: install
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache demo
