# The README's contract: `make demo` and `make test` work on a fresh clone with only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYAIRBYTE_VENV := .venv-pyairbyte
PYAIRBYTE_STAMP := $(PYAIRBYTE_VENV)/.installed

# Dependencies come from the lock files only, every file checked against its hash: the runtime
# closure (requirements.lock, what the image installs), the same plus the test tools and the
# demo's DuckDB (requirements-dev.lock), and PyAirbyte's own venv (requirements-pyairbyte.lock:
# its pins clash with the runtime lock's, see setup.py). The project itself is installed without
# dependencies.
LOCK_OPTIONS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host

.PHONY: install lock demo test lint typecheck unit integration acceptance bench faults clean \
	image container-test pyairbyte-test

install: $(STAMP)

$(STAMP): requirements-dev.lock setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# PyAirbyte's venv: its pins clash with the connector's lock (setup.py), so it has its own.
$(PYAIRBYTE_STAMP): requirements-pyairbyte.lock
	$(PYTHON) -m venv $(PYAIRBYTE_VENV)
	$(PYAIRBYTE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYAIRBYTE_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-pyairbyte.lock
	touch $(PYAIRBYTE_STAMP)

# Upgrading a dependency: change its pin in setup.py, `make lock`, `make test`, commit all three.
lock: install
	$(BIN)/pip-compile $(LOCK_OPTIONS) --output-file requirements.lock setup.py
	$(BIN)/pip-compile $(LOCK_OPTIONS) --extra tests --extra demo --constraint requirements.lock \
		--output-file requirements-dev.lock setup.py
	$(BIN)/pip-compile $(LOCK_OPTIONS) --extra pyairbyte-tests \
		--output-file requirements-pyairbyte.lock setup.py

demo: install
	$(BIN)/python -m demo --html .demo/answers.html

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

typecheck: install
	$(BIN)/mypy source_meta_conversations meta_graph_sandbox demo bench container unit_tests \
		integration_tests

unit: install
	$(BIN)/pytest -q unit_tests

# Tests that need more than the venv run in their own targets: the image (podman) and PyAirbyte
# (its own venv), below.
PYTEST_MARKS := not image_tests and not container and not pyairbyte

integration: install
	$(BIN)/pytest -q integration_tests -m "$(PYTEST_MARKS)"

# The image, built with podman on a local Debian Python 3.11 base (no Docker engine, no registry
# here: see container/). Installs podman, buildah, runc and debootstrap with apt when missing
# (as root); the base is made once per machine and kept in podman's storage. Prints the size.
image: install
	$(BIN)/python -m container image

# spec, check, discover, a full and two incremental reads in the image, compared with the
# installed command on the same sandbox data.
container-test: image
	$(BIN)/pytest -q -m container integration_tests/test_container.py

# PyAirbyte (offline, no telemetry) runs the connector installed in .venv into its default DuckDB
# cache, twice, against the sandbox.
pyairbyte-test: install $(PYAIRBYTE_STAMP)
	CONNECTOR_EXECUTABLE=$(abspath $(BIN))/source-meta-conversations \
		$(PYAIRBYTE_VENV)/bin/pytest -q -m pyairbyte -p no:cacheprovider integration_tests/test_pyairbyte.py

test: lint typecheck
	$(BIN)/pytest -q -m "$(PYTEST_MARKS)" unit_tests integration_tests
	$(MAKE) container-test
	$(MAKE) pyairbyte-test

bench: install
	$(BIN)/python -m bench.run

# Every fault profile against the sandbox: the table of docs/reliability.md.
faults: install
	$(BIN)/python -m integration_tests.faults_table

clean:
	rm -rf $(VENV) $(PYAIRBYTE_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache \
		.container .hypothesis
