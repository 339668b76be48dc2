#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite WAL + FAISS in ./var), non-interactively:
# first start, a gallery built from the shared lfw-dev photos with its provenance, an
# investigator allowed to search it, and one search for a case. Safe to re-run.
set -euo pipefail

VENV=${VENV:-.venv}
DATA=${DATA:-../shared/data}
FT="$VENV/bin/facetrail"
PY="$VENV/bin/python"
HOME_DIR=${FACETRAIL_HOME:-var}
AGENCY="facetrail operators"

# DEMO ONLY: a fixed, published password for every demo account, and the enrolments (TOTP
# secrets, recovery codes) kept in plain files in the home so the script can sign in again.
# Never do either with real accounts.
export FACETRAIL_ADMIN_PASSWORD="demo password, not for real use"
export FACETRAIL_NEW_PASSWORD="$FACETRAIL_ADMIN_PASSWORD"

login() { # login USERNAME ENROLMENT_JSON: password + the current TOTP code of the enrolment
  local code
  code=$("$PY" -c 'import json, sys
from facetrail.governance.credentials import totp_now
print(totp_now(json.load(open(sys.argv[1]))["totp_secret"]))' "$2")
  "$FT" login "$1" --password "$FACETRAIL_ADMIN_PASSWORD" --code "$code"
}

mkdir -p "$HOME_DIR"
admin="$HOME_DIR/demo-admin.json"
investigator="$HOME_DIR/demo-ivy.json"
if [ ! -s "$admin" ]; then
  "$FT" init --admin admin --email admin@localhost --agency "$AGENCY" --json >"$admin.tmp"
  mv "$admin.tmp" "$admin"
fi
login admin "$admin"

"$FT" gallery show demo >/dev/null 2>&1 || "$FT" gallery create demo --pack arcface-mbf
"$FT" gallery show demo 2>/dev/null | grep -q "source lfw-dev" || "$FT" gallery add-source demo lfw-dev \
  --kind "news photographs (LFW research set)" --legal-basis "research evaluation only" \
  --supplied-by "UMass Amherst LFW" --collected-at 2007-10-01 --retention-days 365
"$FT" gallery ingest "$DATA/lfw-dev" --gallery demo --source lfw-dev

if [ ! -s "$investigator" ]; then
  "$FT" account create ivy --email ivy@localhost --agency "$AGENCY" --role investigator \
    --json >"$investigator.tmp"
  mv "$investigator.tmp" "$investigator"
fi
# A new agency may search nothing; let this one search the demo gallery without prior approval
# (once: a re-run does not add a policy version).
"$FT" policy show "$AGENCY" --json | "$PY" -c 'import json, sys
p = json.load(sys.stdin)["policy"]
sys.exit(0 if "demo" in p["galleries"] and p["approval"] == "never" else 1)' ||
  "$FT" policy set "$AGENCY" --galleries demo --approval never \
    --reason "demo: the investigator searches the LFW demo gallery"

login ivy "$investigator"
"$FT" search "$DATA/lfw-dev/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" --gallery demo \
  --case DEMO-2026-0001 --offense armed-robbery \
  --justification "Demo: a bank robbery suspect photographed by the lobby camera." \
  --top 5 --crops "$HOME_DIR/crops"
