# facetrail developer entry points. `make test` installs everything it needs, then runs the suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck bench clean demo chromium redis docs

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
# tiny size, so none can rot. The suite runs on SQLite (the default) and, side by side, again on
# this machine's PostgreSQL (127.0.0.1:5432, trust auth; .ci/run starts it), where each test,
# module and run gets a database of its own, dropped after it (tests/conftest.py). That pass
# stops at once, saying why, if PostgreSQL cannot be reached, and leaves out the tests marked
# database_free (pure pipeline, imaging, models and evaluation code) and one_backend (page
# layout, the API's schema, the benchmark scripts), which would only repeat.
# scripts/test-passes.sh runs both and prints the PostgreSQL pass's output after the SQLite's.
test: $(STAMP) lint typecheck chromium redis
	VENV=$(VENV) scripts/test-passes.sh

# The browser tests drive Debian's chromium through Playwright (Playwright's own browser
# download cannot work offline): installed here when missing (CI runs as root).
chromium:
	@command -v chromium >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	  { echo "the browser tests need Debian's chromium: apt-get install chromium" >&2; exit 1; }

# The shared rate limits' tests start a Redis of their own on a loopback port
# (tests/api/test_shared_limits.py): Debian's redis-server, installed here when missing.
redis:
	@command -v redis-server >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; } || \
	  { echo "the rate limit tests need Debian's redis-server: apt-get install redis-server" >&2; exit 1; }

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

# The documentation site, built offline into site/: the CLI, API and web page references are
# generated from the code first (scripts/docs-reference.py), then MkDocs builds every page,
# failing on a broken link (--strict).
docs: $(STAMP)
	$(PY) scripts/docs-reference.py
	$(VENV)/bin/mkdocs build --strict --quiet
	@echo "the documentation is in site/ (open site/index.html)"

clean:
	rm -rf $(VENV) var var.audit-key var.secrets .pytest_cache .mypy_cache .ruff_cache site
