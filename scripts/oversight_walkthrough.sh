#!/usr/bin/env bash
# Oversight and people's rights as the people of one agency and its network type them
# (README "Oversight and people's rights"): a network operator searches for the county, one
# photo is searched under two cases, the rules raise alerts that the auditor handles, the head
# sees the agency's people, searches and digest; a person is erased and verifies the receipt
# offline; retention runs; the public reads the transparency report. Runs in a fresh folder of
# its own (WORK, default a new temp folder), echoes each command before its output, needs no
# stdin.
set -euo pipefail

# shellcheck source=scripts/walk_lib.sh
source "$(dirname "$0")/walk_lib.sh"
walk_setup oversight_walkthrough

photos="$WORK/photos"
first_photos 20 "$photos"

"$VENV/bin/facetrail" init --admin root --email root@ops.example --json >"$secrets/root.json"
login root >/dev/null
quiet network create metro
quiet agency create county --network metro
quiet agency create metro-ops --network metro
account hana county agency_head supervisor
account aud county auditor
account ivy county investigator
account gus county gallery_admin
account nora metro-ops network_operator
quiet gallery create bookings
quiet gallery add-source bookings sheriff --kind "booking photographs" \
  --legal-basis "State Code 12-345" --supplied-by "County Sheriff" --collected-at 2026-01-15 \
  --retention-days 3650
quiet gallery ingest "$photos" --gallery bookings --source sheriff --workers 1 --json
echo "(gallery 'bookings': $(ls "$photos" | wc -l) booking photos)" >&2

login hana >/dev/null
ft policy set county --gallery bookings --approval never --digest daily \
  --alert stale_days=7 --reason "bookings for the county's cases; stale searches after a week" \
  >/dev/null
# No prior approval relaxes the county's oversight: the network's operator confirms it.
login nora >/dev/null
relaxation=$("$VENV/bin/facetrail" policy relaxations county --status pending --json |
  "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
ft policy confirm "$relaxation" --note "the network agrees: bookings without prior approval" \
  >/dev/null
echo "(policy: county searches 'bookings' without prior approval; daily digest)" >&2

probe=$(ls "$DATA"/lfw-dev/Abdullah_Gul/*.jpg | sed -n 2p)
why="Armed robbery at the corner bank; suspect on the lobby camera."
login ivy >/dev/null
quiet search "$probe" -g bookings --case 2026-000101 --offense armed-robbery --attest --justification "$why"
quiet search "$probe" -g bookings --case 2026-000202 --offense armed-robbery --attest --justification "$why"
echo "(ivy searched one photo under cases 2026-000101 and 2026-000202)" >&2
login nora >/dev/null
other=$(ls "$DATA"/lfw-dev/Abdullah/*.jpg | sed -n 2p)
ft search "$other" -g bookings --case NET-0001 --offense kidnapping --on-behalf-of county \
  --top 1 --attest --justification "Kidnapping reported to the regional centre by the county." >/dev/null
echo "(nora, operator of the metro network, searched for the county)" >&2

login hana >/dev/null
ft alerts run
ft alerts list
ft oversight show
ft oversight digest
alert=$("$VENV/bin/facetrail" alerts list --json | "$PY" -c 'import json,sys; print([a for a in json.load(sys.stdin) if a["rule"] == "probe_cases"][0]["id"])')
login aud >/dev/null
ft alerts ack "$alert" --note "asking ivy why one photo is under two cases"
ft alerts close "$alert" --note "two robberies, the same suspect on both cameras"

# A person asks to be erased: the gallery admin checks who they are and gives their photo.
# Nothing is matched until a second person (the county's head) approves the request.
person=$(ls "$photos"/Abdullah_Gul*.jpg)
login gus >/dev/null
ft erasure open "$person" --reference REQ-2026-0042 \
  --identity-check "passport checked in person at the front desk" --no-consent
login hana >/dev/null
ft erasure approve 1 --note "identity check on file; the request may go ahead"
login gus >/dev/null
match=$("$VENV/bin/facetrail" erasure show 1 --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["matches"][0]["id"])')
ft erasure decide 1 --confirm "$match" >/dev/null
# The head confirms the decisions; ivy's open cases returned the face, so it is held first.
login hana >/dev/null
ft erasure complete 1 --receipt-out "$WORK/receipt.txt" || true
ft erasure holds
for hold in $("$VENV/bin/facetrail" erasure holds --json | "$PY" -c 'import json,sys; print(" ".join(str(h["id"]) for h in json.load(sys.stdin) if h["status"] == "pending"))'); do
  ft erasure hold "$hold" --release --note "the robbery cases do not rely on this photo"
done
ft erasure complete 1 --receipt-out "$WORK/receipt.txt"
"$VENV/bin/facetrail" audit public-key >"$WORK/log.vkey"
echo "\$ cat receipt.txt" >&2
cat "$WORK/receipt.txt" >&2
ft erasure verify-receipt "$WORK/receipt.txt" --key "$WORK/log.vkey"
login gus >/dev/null
ft retention run

login ivy >/dev/null
ft searches show 1
ft logout >/dev/null
# Anyone: no account needed. A report covers a month that is over (the last, by default):
# this month's searches wait for its end.
ft report transparency --agency county --format csv
ft report agencies
ft audit verify
