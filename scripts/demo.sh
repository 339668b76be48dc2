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

# DEMO ONLY: a fixed, published password for every demo account (passed in the environment,
# never on the command line), and the enrolments (TOTP secrets, recovery codes) kept in plain
# files in the home so the script can sign in again. Never do either with real accounts.
export FACETRAIL_ADMIN_PASSWORD="demo password, not for real use"
export FACETRAIL_NEW_PASSWORD="$FACETRAIL_ADMIN_PASSWORD"
export FACETRAIL_PASSWORD="$FACETRAIL_ADMIN_PASSWORD"
# No SMTP server here: mail is dropped as .eml files in a pickup folder (a real install sets
# FACETRAIL_SMTP_HOST). The demo reads the enrolment code mailed to ivy from it, as she would.
export FACETRAIL_MAIL_DIR="${FACETRAIL_MAIL_DIR:-$HOME_DIR/mail}"

mailed_invite() { "$PY" "$(dirname "$0")/mailed_invite.py" "$FACETRAIL_MAIL_DIR" "$1"; }

# shellcheck source=scripts/walk_lib.sh
source "$(dirname "$0")/walk_lib.sh" # code_of: a TOTP code of an enrolment not used before

login() { # login USERNAME ENROLMENT_JSON: password + a fresh TOTP code; the first time, the
  # account's owner enrols their second factor (no one else ever sees it). The enrolment is
  # kept only once confirmed, so a run stopped half-way enrols afresh next time.
  if [ ! -s "$2" ]; then
    invite=$(mailed_invite "$1")
    "$FT" enrol "$1" ${invite:+--invite "$invite"} --json >"$2.new"
    "$FT" enrol "$1" --code "$(code_of "$2.new")"
    mv "$2.new.step" "$2.step"
    mv "$2.new" "$2"
    return
  fi
  "$FT" login "$1" --code "$(code_of "$2")"
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
"$FT" gallery show demo 2>/dev/null | grep "source lfw-dev" >/dev/null || "$FT" gallery add-source demo lfw-dev \
  --kind "news photographs (LFW research set)" --legal-basis "research evaluation only" \
  --supplied-by "UMass Amherst LFW" --collected-at 2007-10-01 --retention-days 365
"$FT" gallery ingest "$DATA/lfw-dev" --gallery demo --source lfw-dev

# ivy's account is granted once (no second factor: she enrols her own at first sign-in, with
# the enrolment code mailed to her alone).
if [ ! -e "$investigator.granted" ]; then
  "$FT" account create ivy --email ivy@localhost --agency "$AGENCY" --role investigator
  touch "$investigator.granted"
fi
# A new agency may search nothing; let this one search the demo gallery without prior approval
# (once: a re-run does not add a policy version).
"$FT" policy show "$AGENCY" --json | "$PY" -c 'import json, sys
p = json.load(sys.stdin)["policy"]
sys.exit(0 if "demo" in p["galleries"] and p["approval"] == "never" else 1)' ||
  "$FT" policy set "$AGENCY" --gallery demo --approval never \
    --reason "demo: the investigator searches the LFW demo gallery"

login ivy "$investigator"
"$FT" search "$DATA/lfw-dev/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" --gallery demo \
  --case DEMO-2026-0001 --offense armed-robbery \
  --attest --justification "Demo: a bank robbery suspect photographed by the lobby camera." \
  --top 5 --crops "$HOME_DIR/crops"

# The web app, for the people above: each signs in with the demo password and a code from
# their authenticator (the otpauth URI below goes into any TOTP app, or print a code with the
# command shown). DEMO_SERVE=0 stops here instead of serving.
echo
echo "Demo accounts (password: $FACETRAIL_PASSWORD)"
for who in admin ivy; do
  kept="$HOME_DIR/demo-$who.json"
  [ "$who" = ivy ] && kept="$investigator"
  echo "  $who: $("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["totp_uri"])' "$kept")"
  echo "       code now: $PY $(dirname "$0")/demo_code.py $kept"
done
if [ "${DEMO_SERVE:-1}" != 0 ]; then
  echo "Web app on http://127.0.0.1:${DEMO_PORT:-8000}/ (Ctrl-C stops it)"
  exec "$FT" serve --host 127.0.0.1 --port "${DEMO_PORT:-8000}"
fi
