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

# Long measurements, run on request only (about 15 minutes on 2 cores).
bench: $(STAMP)
	$(PY) bench/accuracy_vs_reference.py --pack arcface-mbf
	$(PY) bench/accuracy_vs_reference.py --pack sface
	$(PY) bench/ingest_cost.py

# The main job on the embedded defaults (SQLite WAL + FAISS in ./var): build a gallery from
# the shared lfw-dev photos with its provenance, then search it with one probe.
DATA ?= $(or $(FACETRAIL_TEST_DATA),../shared/data)
FT := $(VENV)/bin/facetrail
demo: $(STAMP)
	$(FT) gallery show demo >/dev/null 2>&1 || $(FT) gallery create demo --pack arcface-mbf
	$(FT) gallery show demo 2>/dev/null | grep -q "source lfw-dev" || $(FT) gallery add-source demo lfw-dev \
	  --kind "news photographs (LFW research set)" --legal-basis "research evaluation only" \
	  --supplied-by "UMass Amherst LFW" --collected-at 2007-10-01 --retention-days 365
	$(FT) gallery ingest $(DATA)/lfw-dev --gallery demo --source lfw-dev
	$(FT) search $(DATA)/lfw-dev/Aaron_Peirsol/Aaron_Peirsol_0002.jpg --gallery demo --top 5 --crops var/crops

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
