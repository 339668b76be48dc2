"""Probe retention: probe images are deleted when their agency's policy says so.

Authorisation: internal (run by housekeeping). Audit: each purge is an entry.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from facetrail.governance.audit import AuditEvent, append
from facetrail.services.accounts import (
    utc_now,
)
from facetrail.services.context import AppContext
from facetrail.store.schema import (
    Image,
    SearchRecord,
)


def purge_expired_probes(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Delete probe images kept as long as their agency's policy allowed when the search was
    made. An image that is also in a gallery, or the probe of a search still within its
    retention, stays. Returns how many searches had their probes purged; audited."""
    now = now or utc_now()
    with ctx.transaction() as session:
        due = list(
            session.scalars(
                select(SearchRecord).where(
                    SearchRecord.probes_purged.is_(False), SearchRecord.probe_purge_after <= now
                )
            )
        )
        if not due:
            return 0
        shas = {p["sha256"] for r in due for p in json.loads(r.probes)}
        kept = set(session.scalars(select(Image.sha256).where(Image.sha256.in_(shas))))
        for probes in session.scalars(
            select(SearchRecord.probes).where(
                SearchRecord.probes_purged.is_(False), SearchRecord.probe_purge_after > now
            )
        ):
            kept |= {p["sha256"] for p in json.loads(probes)} & shas
        for record in due:
            record.probes_purged = True
        gone = sorted(shas - kept)
        append(
            session,
            AuditEvent(
                "system",
                "search.probes.purge",
                "probes",
                {"searches": [r.id for r in due], "images": gone},
            ),
        )
    for sha in gone:  # after commit: a crash leaves an orphan file, never a dangling row
        ctx.blobs.delete(sha)
    return len(due)
