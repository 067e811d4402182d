# The README's contract: `make demo` and `make test` work on a fresh clone with only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit integration acceptance bench clean

install: $(STAMP)

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[tests]"
	touch $(STAMP)

demo: install
	$(BIN)/python -m demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

typecheck: install
	$(BIN)/mypy source_meta_conversations meta_graph_sandbox demo bench unit_tests integration_tests

unit: install
	$(BIN)/pytest -q unit_tests

integration: install
	$(BIN)/pytest -q integration_tests -m "not image_tests"

test: lint typecheck
	$(BIN)/pytest -q -m "not image_tests" unit_tests integration_tests

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
