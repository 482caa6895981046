# initref: `make generate` and `make test` are all a fresh machine needs.
# Each target builds or refreshes the virtual environment it uses (.venv), pinned by
# requirements/constraints.txt so that generated/ is byte-identical everywhere.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CONSTRAINTS := requirements/constraints.txt
# The CPU wheel of torch 2.13.0 lies in /opt/wheels on these machines; name it explicitly so a
# missing PIP_FIND_LINKS never turns into a multi-GB CUDA download.
PIP_FLAGS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
BASE_STAMP := $(VENV)/.stamp-base
TEST_STAMP := $(VENV)/.stamp-test

.PHONY: generate check test lint bench clean venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(BASE_STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PIP) install --quiet $(PIP_FLAGS) -c $(CONSTRAINTS) -e .
	touch $@

$(TEST_STAMP): $(BASE_STAMP) pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[test]'
	touch $@

venv: $(BASE_STAMP)

generate: $(BASE_STAMP)
	$(PY) -m derive generate

check: $(BASE_STAMP)
	$(PY) -m derive generate --check

test: $(TEST_STAMP)
	$(PY) -m pytest -n 2 -q

lint: $(TEST_STAMP)
	$(PY) -m ruff check derive initref tests generated
	$(PY) -m ruff format --check derive initref tests generated
	$(PY) -m mypy

bench: $(TEST_STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
