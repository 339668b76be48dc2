#!/usr/bin/env bash
# A case from policy to disclosure, as the people of one agency type it (README "Accountable
# searching"), then an outside witness of the audit log and an insider who wipes it. Runs in
# a fresh folder of its own (WORK, default a new temp folder; never an existing home), with a
# small gallery of lfw-dev photos, and echoes each command before its output. Needs no stdin.
set -euo pipefail

# shellcheck source=scripts/walk_lib.sh
source "$(dirname "$0")/walk_lib.sh"
walk_setup walkthrough
export FACETRAIL_WITNESS_DIRS="[\"$WORK/auditor-inbox\"]" # checkpoints pushed to an auditor

photos="$WORK/photos"
first_photos 40 "$photos"

"$VENV/bin/facetrail" init --admin root --email root@ops.example --json >"$secrets/root.json"
login root >/dev/null
quiet agency create county
account hana county agency_head supervisor
account sam county supervisor
account ivy county investigator
account ian county investigator
quiet gallery create bookings
quiet gallery add-source bookings sheriff --kind "booking photographs" \
  --legal-basis "State Code 12-345" --supplied-by "County Sheriff" --collected-at 2026-01-15 \
  --retention-days 3650
quiet gallery ingest "$photos" --gallery bookings --source sheriff --workers 1 --json
echo "(gallery 'bookings': $(ls "$photos" | wc -l) booking photos)" >&2

login hana
ft policy set county --gallery bookings --approval listed --approval-offense homicide \
  --daily-limit 5 --reason "bookings for serious cases; homicide needs prior approval"
# Prior approval for homicide only relaxes the oversight: a second person confirms it.
login root
relaxation=$("$VENV/bin/facetrail" policy relaxations county --status pending --json |
  "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
ft policy confirm "$relaxation" --note "agreed: prior approval for homicide searches"

login ivy
probe=$(ls "$DATA"/lfw-dev/Abdullah_Gul/*.jpg | sed -n 2p)
ft search "$probe" -g bookings --case "" --offense homicide --attest --justification x || true
ft search "$probe" -g bookings --case 2026-000123 --offense shoplifting \
  --attest --justification "Shoplifting at the corner store, seen on camera." || true
ft search "$probe" -g bookings -g dmv --case 2026-000123 --offense homicide \
  --attest --justification "Homicide on 3 Main St; suspect photographed by a doorbell camera." || true
ft search "$probe" -g bookings --case 2026-000123 --offense homicide --top 3 \
  --attest --justification "Homicide on 3 Main St; suspect photographed by a doorbell camera."

login sam
ft searches pending
ft searches approve 1 --note "open homicide case, probe is usable"

login ivy
ft searches show 1
cand=$("$VENV/bin/facetrail" searches show 1 --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["candidates"][0]["id"])')
ft searches review "$cand" --decision possible_match --note "same brow line and ears"
ft searches review "$cand" --decision possible_match --note "again" || true
login ian
ft searches review "$cand" --decision possible_match --note "independent: nose and hairline agree"
login ivy
ft searches outcome 1 lead --note "interview at the address on file"
ft cases disclose 2026-000123 --out "$WORK/disclosure.json"
login hana
ft inbox
ft audit checkpoint
ft audit verify

# The outside auditor holds the log's public key and runs a witness on its own machine.
echo "\$ facetrail audit public-key > log.vkey" >&2
"$VENV/bin/facetrail" audit public-key >"$WORK/log.vkey"
cat "$WORK/log.vkey" >&2
ft audit witness --state "$WORK/auditor" --log-key "$WORK/log.vkey" --inbox "$WORK/auditor-inbox" \
  --name auditor.example/witness

# An insider with root on the server wipes the log (entries, checkpoints, the log head).
echo "\$ sqlite3 facetrail.db 'DELETE FROM audit_entries; DELETE FROM audit_checkpoints; DELETE FROM audit_head'" >&2
"$PY" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("DELETE FROM audit_entries; DELETE FROM audit_checkpoints; DELETE FROM audit_head;")
db.close()' "$FACETRAIL_HOME/facetrail.db"
ft audit verify || echo "(exit $?)" >&2
ft audit witness --state "$WORK/auditor" --log-key "$WORK/log.vkey" --db "$FACETRAIL_HOME/facetrail.db" ||
  echo "(exit $?)" >&2
