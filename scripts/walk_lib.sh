# Helpers the walkthroughs share (sourced, not run): echo each facetrail command before its
# output, fresh TOTP codes, sign-in (enrolment the first time), accounts. Needs VENV, PY,
# secrets and FACETRAIL_MAIL_DIR set by the script that sources it.
# shellcheck shell=bash

shown() { # the arguments as one would type them: quoted only where needed
  local a out=""
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,@+-]+$ ]]; then out+=" $a"; else out+=" '$a'"; fi
  done
  echo "$out"
}
ft() { echo "\$ facetrail$(shown "$@")" >&2; "$VENV/bin/facetrail" "$@"; }
quiet() { "$VENV/bin/facetrail" "$@" >/dev/null; }
fresh_code() { # a TOTP code of $1 not used before (each works once; waits if need be)
  "$PY" -c 'import json, sys, time
from facetrail.governance.credentials import totp_now
path = sys.argv[1]
try:
    last = int(open(path + ".step").read())
except FileNotFoundError:
    last = -1
now = time.time()
step = max(int(now // 30), last + 1)
if step > int(now // 30) + 1:
    time.sleep((step - 1) * 30 - now + 0.1)
open(path + ".step", "w").write(str(step))
print(totp_now(json.load(open(path))["totp_secret"], at=step * 30))' "$secrets/$1.json"
}
login() { # the first sign-in of a granted account is its owner's enrolment of a second factor
  local code
  if [ ! -s "$secrets/$1.json" ]; then
    local invite
    invite=$("$PY" "$(dirname "$0")/mailed_invite.py" "$FACETRAIL_MAIL_DIR" "$1")
    echo "\$ facetrail enrol $1 ${invite:+--invite $invite }   # the code mailed to $1; password typed at the prompt; shows the QR code" >&2
    "$VENV/bin/facetrail" enrol "$1" ${invite:+--invite "$invite"} --json >"$secrets/$1.json"
    code=$(fresh_code "$1")
    echo "\$ facetrail enrol $1 --code $code" >&2
    "$VENV/bin/facetrail" enrol "$1" --code "$code"
    return
  fi
  code=$(fresh_code "$1")
  echo "\$ facetrail login $1 --code $code    # password typed at the prompt" >&2
  "$VENV/bin/facetrail" login "$1" --code "$code"
}
account() { # account NAME AGENCY ROLE...
  local name=$1 agency=$2
  shift 2
  "$VENV/bin/facetrail" account create "$name" --email "$name@county.example" \
    --agency "$agency" $(printf -- '--role %s ' "$@") --json >/dev/null
  echo "(created $name: $*)" >&2
}

