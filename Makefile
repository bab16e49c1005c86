# Everything runs from a project-local virtualenv built from the lock files.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test lint unit integration simulate bench clean lock artefacts

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements-test.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-test.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

demo: install
	$(BIN)/orchestrator-telemetry demo

test: lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest tests/integration

# Weeks of simulated operation under seeded faults (README, Guarantees): SEEDS=0-49 WEEKS=4.
SEEDS ?= 0-49
WEEKS ?= 4
simulate: install
	$(BIN)/python -m tests.simulation --seeds $(SEEDS) --weeks $(WEEKS)

# The Summary against a large generated orchestrator database; writes BENCHMARKS.md.
bench: install
	$(BIN)/python -m bench

# Regenerate what is derived from the metric catalogue: docs/metrics.md and the JSON Schemas.
artefacts: install
	$(BIN)/python -m orchestrator_telemetry.collect.artefacts

# Regenerate the lock files from pyproject.toml in throwaway virtualenvs.
lock:
	rm -rf /tmp/ot-lock && $(PYTHON) -m venv /tmp/ot-lock
	/tmp/ot-lock/bin/pip install --quiet . && /tmp/ot-lock/bin/pip freeze --exclude orchestrator-telemetry > requirements.lock
	/tmp/ot-lock/bin/pip install --quiet '.[test]' && /tmp/ot-lock/bin/pip freeze --exclude orchestrator-telemetry > requirements-test.lock
	rm -rf /tmp/ot-lock

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
