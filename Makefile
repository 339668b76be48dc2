# facetrail developer entry points. `make test` installs everything it needs, then runs the suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck bench clean demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Type-checks src/ and bench/ (pyproject [tool.mypy]); tests/bench runs every bench script at a
# tiny size, so none can rot.
test: $(STAMP) lint typecheck
	$(VENV)/bin/pytest -m "not slow" -q

# Long measurements, run on request only (about 15 minutes on 2 cores).
bench: $(STAMP)
	$(PY) bench/accuracy_vs_reference.py --pack arcface-mbf
	$(PY) bench/accuracy_vs_reference.py --pack sface
	$(PY) bench/ingest_cost.py

# The main job on the embedded defaults (SQLite WAL + FAISS in ./var), non-interactively: first
# start, a gallery built from the shared lfw-dev photos with its provenance, an investigator
# allowed to search it who enrols her own second factor, and one search for a case
# (scripts/demo.sh; no stdin needed; honours FACETRAIL_HOME; safe to re-run).
DATA ?= $(or $(FACETRAIL_TEST_DATA),../shared/data)
demo: $(STAMP)
	VENV=$(VENV) DATA=$(DATA) scripts/demo.sh

clean:
	rm -rf $(VENV) var var.audit-key var.secrets .pytest_cache .mypy_cache .ruff_cache
