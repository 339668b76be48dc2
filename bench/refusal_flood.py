"""A flood of refused requests (issue 26): one API token sends ``--requests`` searches past its
rate limit (one search a minute), back to back, to the REST API in this process. Counted twice
in one run, each on a home of its own: with facetrail's counting of repeated refusals (the
first ones at once, the same one up to three times a minute, then one entry a minute with the
count: ``audit.refusal_floods``), and
with that counting switched off, every refusal and its token's use written one by one (what
facetrail did before). Prints the audit entries each wrote, their ratio, and how long each
flood took.

    .venv/bin/python bench/refusal_flood.py [--requests 10000]

``make test`` runs it at a tiny size so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from _load_organisation import AGENCY, PASSWORD, _enrolled_token, first_admin  # noqa: E402
from facetrail.config import Settings  # noqa: E402
from facetrail.governance.credentials import Role  # noqa: E402
from facetrail.server import create_app  # noqa: E402
from facetrail.services import accounts  # noqa: E402
from facetrail.services.accounts import NewAccount  # noqa: E402
from facetrail.services.audit.refusal_floods import Floods, Refused  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.store.schema import AuditEntryRow  # noqa: E402


class OneByOne(Floods):
    """Counting switched off: every refusal is written at once, as before issue 26."""

    def counted(self, refused: Refused, now: datetime) -> bool:
        return False


def _flood(folder: Path, requests: int, counting: bool) -> dict[str, Any]:
    settings = Settings(
        home=folder / "home",
        threads=1,
        mail_dir=folder / "mail",
        search_rate_limit="1/minute",
        background_work=False,
    )
    ctx = AppContext.open(settings)
    if not counting:
        ctx.floods = OneByOne()
    admin = first_admin(ctx)
    accounts.create_agency(ctx, admin, AGENCY)
    account = NewAccount("ivy", f"ivy@{AGENCY}.example", PASSWORD, AGENCY, (Role.INVESTIGATOR,))
    accounts.create_user(ctx, admin, account)
    token = _enrolled_token(ctx, "ivy")
    form = {"case_number": "2026-000961", "offense": "shoplifting", "attest": "true"}
    probe = [("probes", ("probe.jpg", b"\xff\xd8 never read", "image/jpeg"))]
    headers = {"Authorization": f"Bearer {token}"}

    def last_seq() -> int:
        with ctx.sessions() as session:
            return int(session.scalar(select(func.max(AuditEntryRow.seq))) or 0)

    before = last_seq()
    started = time.perf_counter()
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
        statuses = Counter(
            client.post("/api/v1/searches", data=form, files=probe, headers=headers).status_code
            for _ in range(requests)
        )
    seconds = time.perf_counter() - started
    ctx.close()  # writes the open minutes' entries
    reopened = AppContext.open(settings)
    with reopened.sessions() as session:
        kinds = Counter(
            session.scalars(
                select(AuditEntryRow.kind).where(
                    AuditEntryRow.seq > before, AuditEntryRow.kind != "row.seal"
                )
            )
        )
    reopened.close()
    return {
        "requests": requests,
        "answers": {str(k): v for k, v in sorted(statuses.items())},
        "entries": sum(kinds.values()),
        "by_kind": dict(sorted(kinds.items())),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.pop("FACETRAIL_DATABASE_URL", None)  # the embedded SQLite
    with tempfile.TemporaryDirectory() as folder:
        counted = _flood(Path(folder) / "counted", args.requests, counting=True)
        one_by_one = _flood(Path(folder) / "one-by-one", args.requests, counting=False)
    figures = {
        "counted": counted,
        "one_by_one": one_by_one,
        "entries_ratio": round(one_by_one["entries"] / max(counted["entries"], 1), 1),
        "seconds_ratio": round(one_by_one["seconds"] / max(counted["seconds"], 1e-9), 2),
    }
    print(
        f"{args.requests} refused searches from one token: {counted['entries']} audit entries "
        f"counted by the minute, {one_by_one['entries']} one by one "
        f"({figures['entries_ratio']}x); {counted['seconds']} s against "
        f"{one_by_one['seconds']} s"
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
