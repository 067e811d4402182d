# The README's contract: `make demo` and `make test` work on a fresh clone with only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Dependencies come from the lock files only, every file checked against its hash: the runtime
# closure (requirements.lock, what the image installs) and the same plus the test tools
# (requirements-dev.lock). The project itself is installed without dependencies.
LOCK_OPTIONS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host

.PHONY: install lock demo test lint typecheck unit integration acceptance bench faults clean

install: $(STAMP)

$(STAMP): requirements-dev.lock setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Upgrading a dependency: change its pin in setup.py, `make lock`, `make test`, commit all three.
lock: install
	$(BIN)/pip-compile $(LOCK_OPTIONS) --output-file requirements.lock setup.py
	$(BIN)/pip-compile $(LOCK_OPTIONS) --extra tests --constraint requirements.lock \
		--output-file requirements-dev.lock setup.py

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

# Every fault profile against the sandbox: the table of docs/reliability.md.
faults: install
	$(BIN)/python -m integration_tests.faults_table

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
