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
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) lint typecheck
	$(VENV)/bin/pytest -m "not slow" -q

bench: $(STAMP)
	$(PY) bench/ingest_cost.py
	$(PY) bench/raw_reference.py --pack arcface-mbf

demo: $(STAMP)
	$(VENV)/bin/facetrail demo

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
