"""DEMO ONLY: print the current TOTP code of a demo account from the enrolment the demo
kept in the home (scripts/demo.sh), for signing in to the web app. Never keep real secrets
in files like this."""

from __future__ import annotations

import json
import sys

from facetrail.governance.credentials import totp_now


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: demo_code.py HOME/demo-NAME.json")
    with open(sys.argv[1]) as kept:
        print(totp_now(json.load(kept)["totp_secret"]))


if __name__ == "__main__":
    main()
