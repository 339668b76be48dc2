"""Several service workers on one database: `facetrail serve --workers 8` on loopback, many
clients acting at once. No action fails, and the audit log has no gap and verifies (on
PostgreSQL when the suite runs there, as ``make test``'s second pass does)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.governance.verify import verify_log
from facetrail.services.audit.log import public_key
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow
from tests.org import make_county, sign_in
from tests.served import served

WORKERS = 8
CLIENTS = 16
EACH = 6


def _call(url: str, token: str, body: dict[str, str] | None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _entries(ctx: AppContext) -> tuple[int, int, int]:
    with ctx.sessions() as s:
        count, low, high = s.execute(
            select(
                func.count(AuditEntryRow.seq),
                func.min(AuditEntryRow.seq),
                func.max(AuditEntryRow.seq),
            )
        ).one()
    return int(count), int(low), int(high)


def test_eight_workers_append_at_once_without_failure_or_gap(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = AppContext.open(Settings(home=home, threads=1))
    try:
        org = make_county(ctx)
        token = sign_in(ctx, org.enrolments["sam"]).token
        before, _, _ = _entries(ctx)
        # No housekeeping during the count (a checkpoint would be an entry of its own).
        quiet = {"FACETRAIL_HOUSEKEEPING_SECONDS": "86400"}
        with served(home, "--workers", str(WORKERS), env=quiet) as base:
            # Each client reads who it is (one audited token use) and asks for something that
            # is refused (a token use and an audited refusal): three appends per pair of calls.
            # Each refusal names another token: the same refusal repeated would be counted as a
            # flood after its first few (``audit.refusal_floods``), not written one by one.
            jobs = [(f"{base}/api/v1/me", None)] * (CLIENTS * EACH) + [
                (f"{base}/api/v1/tokens/revoke", {"token": f"ft_not_a_token_{n}"})
                for n in range(CLIENTS * EACH)
            ]
            with ThreadPoolExecutor(CLIENTS) as pool:
                statuses = list(pool.map(lambda job: _call(job[0], token, job[1]), jobs))
        assert statuses.count(200) == CLIENTS * EACH, sorted(set(statuses))
        assert statuses.count(404) == CLIENTS * EACH  # the refusals, each audited
        count, low, high = _entries(ctx)
        assert count == before + 3 * CLIENTS * EACH
        assert (low, high) == (1, count)  # no gap
        with ctx.sessions() as s:
            report = verify_log(s, public_key(ctx))
        assert report.ok, report.problem
    finally:
        ctx.close()
