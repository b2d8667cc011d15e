# smsgate: `make run` serves the embedded default, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# node-smpp, the independent SMSC of the SMPP interop tests and benchmark
NODE_DIR := tests/smpp_interop/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: install run test lint typecheck clean smpp-interop-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	npm install --prefix $(NODE_DIR) --save-exact --no-audit --no-fund smpp@0.5.1
	touch $@

smpp-interop-deps: $(NODE_STAMP)

run: install
	$(BIN)/smsgate serve --demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# Three workers on two cores: many tests wait on timers and child processes, and two left a
# third of the CPU idle. A backend's tests go by units of folders (see tests/conftest.py).
test: $(TEST_STAMP) $(NODE_STAMP) lint typecheck
	$(BIN)/pytest -n 3

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
