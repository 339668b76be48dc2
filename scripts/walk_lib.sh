# Helpers the walkthroughs and the demo share (sourced, not run): a fresh folder of its own
# (walk_setup), echo each facetrail command before its output, fresh TOTP codes, sign-in
# (enrolment the first time), accounts. The demo uses code_of alone.
# shellcheck shell=bash

VENV=${VENV:-.venv}
DATA=${DATA:-../shared/data}
PY="$VENV/bin/python"

walk_setup() { # walk_setup NAME: a new home in WORK (default a new temp folder), and nothing else
  WORK=${WORK:-$(mktemp -d)}
  if [ -e "$WORK/home" ]; then
    echo "$1: $WORK/home exists; give a new WORK folder" >&2
    exit 2
  fi
  # Only this folder: no setting of a real installation may leak in.
  unset FACETRAIL_DATABASE_URL FACETRAIL_SIGNING_KEY_DIR FACETRAIL_SECRETS_KEY_FILE FACETRAIL_AUDIT_ORIGIN
  export FACETRAIL_HOME="$WORK/home"
  export FACETRAIL_THREADS=1
  # DEMO ONLY: one published password for every account; the TOTP secrets are kept in files.
  export FACETRAIL_ADMIN_PASSWORD="walkthrough password, not for real use"
  export FACETRAIL_NEW_PASSWORD="$FACETRAIL_ADMIN_PASSWORD"
  export FACETRAIL_PASSWORD="$FACETRAIL_ADMIN_PASSWORD"  # never a command-line option
  export FACETRAIL_MAIL_DIR="$WORK/mail" # no SMTP here: mail waits in a pickup folder
  secrets="$WORK/secrets"
  mkdir -p "$secrets"
}

first_photos() { # first_photos N DIR: the first photo of each of the first N lfw-dev people
  mkdir -p "$2"
  local d
  for d in $(ls "$DATA/lfw-dev" | head -"$1"); do
    [ -d "$DATA/lfw-dev/$d" ] && cp "$(ls "$DATA/lfw-dev/$d"/*.jpg | head -1)" "$2/"
  done
}
shown() { # the arguments as one would type them: quoted only where needed
  local a out=""
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,@+-]+$ ]]; then out+=" $a"; else out+=" '$a'"; fi
  done
  echo "$out"
}
ft() { echo "\$ facetrail$(shown "$@")" >&2; "$VENV/bin/facetrail" "$@"; }
quiet() { "$VENV/bin/facetrail" "$@" >/dev/null; }
code_of() { # a TOTP code of the enrolment (JSON file) $1 not used before (each works once;
  # waits if need be)
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
print(totp_now(json.load(open(path))["totp_secret"], at=step * 30))' "$1"
}
fresh_code() { code_of "$secrets/$1.json"; } # a fresh code of the account $1
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

