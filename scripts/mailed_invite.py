"""Print the latest enrolment code mailed to a person, read from a mail pickup folder
(FACETRAIL_MAIL_DIR) as they would read their mail; print nothing when none was mailed.

    python scripts/mailed_invite.py MAIL_DIR USERNAME
"""

from __future__ import annotations

import email
import re
import sys
from pathlib import Path


def mailed_invite(folder: Path, username: str) -> str | None:
    wanted = f"[facetrail] your enrolment code for {username}"
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.eml"), reverse=True):
        mail = email.message_from_bytes(path.read_bytes())
        if mail["Subject"] == wanted:
            found = re.search(r"--invite ([0-9A-F-]+)", str(mail.get_payload()))
            return found.group(1) if found else None
    return None


if __name__ == "__main__":
    code = mailed_invite(Path(sys.argv[1]), sys.argv[2])
    if code:
        print(code)
