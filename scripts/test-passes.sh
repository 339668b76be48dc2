#!/usr/bin/env bash
# `make test`'s two passes, run at once: the suite on SQLite (the default) and again on this
# machine's PostgreSQL (FACETRAIL_TEST_POSTGRES=1; tests/conftest.py gives each test, module and
# run a database of its own and drops it). Each pass is one Python process, so on two cores
# they run side by side in about the time of the longer one. The PostgreSQL pass leaves out the
# tests marked database_free (they open no database and would only repeat) and one_backend (what
# they check does not depend on the database: page layout, the API's schema, the benchmark
# scripts); its output goes to
# test-artefacts/postgresql.log and is printed when both are done. Extra arguments go to both
# pytest runs. Exit status: non-zero when either pass fails.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
ARTEFACTS=test-artefacts
mkdir -p "$ARTEFACTS"
scratch=$(mktemp -d)
pg=""
trap '[ -n "$pg" ] && kill "$pg" 2>/dev/null; rm -rf "$scratch"' EXIT

FACETRAIL_TEST_POSTGRES=1 FACETRAIL_TEST_ARTEFACTS="$ARTEFACTS/postgresql" \
  "$VENV/bin/pytest" -m "not slow and not database_free and not one_backend" -q -p no:cacheprovider \
  --basetemp="$scratch/postgresql" --durations=10 "$@" >"$ARTEFACTS/postgresql.log" 2>&1 &
pg=$!

echo "== SQLite pass (PostgreSQL pass running beside it, output in $ARTEFACTS/postgresql.log)"
"$VENV/bin/pytest" -m "not slow" -q -p no:cacheprovider --basetemp="$scratch/sqlite" \
  --durations=10 "$@"
sqlite_rc=$?
wait "$pg"
pg_rc=$?
echo
echo "== PostgreSQL pass"
cat "$ARTEFACTS/postgresql.log"
echo
echo "== SQLite pass: exit $sqlite_rc; PostgreSQL pass: exit $pg_rc"
[ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]
