"""DEMO ONLY: print a TOTP code of a demo account from the enrolment the demo kept in the
home (scripts/demo.sh), for signing in to the web app. facetrail accepts each code once, so
a code printed before is not printed again: it waits for the next one (saying so on stderr).
Never keep real secrets in files like this."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from facetrail.governance.credentials import totp_now

STEP_S = 30


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: demo_code.py HOME/demo-NAME.json")
    kept = Path(sys.argv[1])
    secret = json.loads(kept.read_text())["totp_secret"]
    last_file = kept.with_name(kept.name + ".last-step")
    last = int(last_file.read_text()) if last_file.exists() else -1
    now = time.time()
    if int(now // STEP_S) <= last:
        wait = (last + 1) * STEP_S - now
        print(
            f"the last code was printed already: waiting {wait:.0f} s for the next", file=sys.stderr
        )
        time.sleep(max(wait, 0) + 0.5)
        now = time.time()
    last_file.write_text(str(int(now // STEP_S)))
    print(totp_now(secret, at=now))


if __name__ == "__main__":
    main()
