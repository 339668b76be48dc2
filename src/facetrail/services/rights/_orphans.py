"""Blobs no row holds, deleted: what an action left on disk when it was refused, failed or
crashed after writing a photo and before its commit (a refused search's probe, an erasure
request's photos, a refused ingest's files). Without this sweep such a photo would stay on
disk with nothing to say it is there, nor to delete it when its person asks.

A blob is an orphan when no image, kept search probe or running erasure request holds it
(``_purge.held_blobs``, what purges use) and it is older than ``ORPHAN_GRACE``, longer than
any action takes between writing a photo and committing the row that holds it. Housekeeping
sweeps at most once per ``SWEEP_EVERY`` (a marker file's time in the blob folder); the sweep
is logged as ``blob.orphans.purge`` with the count, never a hash.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from facetrail.governance.audit import AuditEvent, append
from facetrail.services.context import AppContext
from facetrail.services.rights._purge import held_blobs
from facetrail.services.unit_of_work import SYSTEM, system_action

__all__ = ["ORPHAN_GRACE", "SWEEP_EVERY", "sweep_orphans"]

#: How old a blob no row holds must be before it is deleted.
ORPHAN_GRACE = timedelta(hours=1)
#: How often housekeeping sweeps.
SWEEP_EVERY = timedelta(days=1)
#: Blobs checked against the store in one pass.
_CHUNK = 500
_MARKER = ".swept"


def sweep_orphans(ctx: AppContext, *, now: datetime | None = None, force: bool = False) -> int:
    """Delete the blobs no row holds that are older than ``ORPHAN_GRACE``; at most once per
    ``SWEEP_EVERY`` unless ``force``. -> how many were deleted."""
    now = now or datetime.now(UTC)
    marker = ctx.blobs.root / _MARKER
    if not force and marker.exists():
        swept = datetime.fromtimestamp(marker.stat().st_mtime, UTC)
        # A marker dated ahead (touched by hand) would put the sweep off for good: not due.
        if timedelta(0) <= now - swept < SWEEP_EVERY:
            return 0
    cutoff = (now - ORPHAN_GRACE).timestamp()
    old = sorted(name for name, mtime in ctx.blobs.stored() if mtime < cutoff)
    orphans: list[str] = []
    for start in range(0, len(old), _CHUNK):
        part = old[start : start + _CHUNK]
        with ctx.reads() as session:
            held = held_blobs(session, part)
        orphans += [sha for sha in part if sha not in held]
    if orphans:
        # Logged first: a crash halfway leaves fewer orphans than the entry counts, never
        # deletions nothing recorded. Held again under the lock: a row committed since holds it.
        with system_action(ctx, "blob.orphans.purge", "blobs", actor=SYSTEM) as session:
            orphans = [sha for sha in orphans if sha not in held_blobs(session, orphans)]
            if orphans:
                details = {"blobs": len(orphans), "older_than_hours": _hours(ORPHAN_GRACE)}
                append(session, AuditEvent(SYSTEM, "blob.orphans.purge", "blobs", details))
        for sha in orphans:
            ctx.blobs.delete(sha)
    ctx.blobs.root.mkdir(parents=True, exist_ok=True)
    marker.touch()
    os.utime(marker, (now.timestamp(), now.timestamp()))  # swept as of ``now``
    return len(orphans)


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600
