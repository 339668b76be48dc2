"""Retention: gallery images are removed when their source's retention period ends (the way
erasure removes them), and probe images when their agency's policy says so. An image that is
a candidate or lead of an open case is held until its agency's head decides
(``services.rights.legal_holds``); the period counts from the ingest date the log sealed (an
``images.created_at`` written outside facetrail purges nothing).

Authorisation: internal (housekeeping and the service's schedule run it); ``retention_run``
for a gallery admin or system admin. Audit: each purge is an entry, of hashes and counts; the
entries outlive the purged data and never hold an image or a template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.governance.events import RetentionPurged
from facetrail.governance.seal_checks import row_problem, rows_problems
from facetrail.services.accounts import (
    utc_now,
)
from facetrail.services.context import AppContext
from facetrail.services.galleries.indexing import SYSTEM
from facetrail.services.rights._purge import (
    PurgePlan,
    apply_purge,
    drop_blobs,
    finish_purges,
    plan_purge,
    scrub_after,
)
from facetrail.services.rights.legal_holds import gate
from facetrail.services.unit_of_work import require, system_action
from facetrail.store.schema import (
    Gallery,
    Image,
    ProbeTemplateRow,
    SearchRecord,
    Source,
)


def purge_expired_probes(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Delete probe images kept as long as their agency's policy allowed when the search was
    made. An image that is also in a gallery, or the probe of a search still within its
    retention, stays. Returns how many searches had their probes purged; audited."""
    now = now or utc_now()
    with system_action(ctx, "retention.probes", "probes", actor="system") as session:
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
        session.execute(  # the probes' templates go with them
            delete(ProbeTemplateRow).where(ProbeTemplateRow.search_id.in_([r.id for r in due]))
        )
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
        drop_blobs(session, gone)  # after the commit, by the follow-up: a crash loses none
    finish_purges(ctx)
    return len(due)


@dataclass(frozen=True)
class SourcePurge:
    gallery: str
    source: str
    retention_days: int
    images: int
    faces: int
    templates: int
    tombstones: int


@dataclass(frozen=True)
class RetentionReport:
    """What one run removed: nothing when nothing had expired (a second run)."""

    sources: list[SourcePurge]
    searches_with_probes_purged: int
    index_entries_written: int


def run_retention(ctx: AppContext, *, now: datetime | None = None) -> RetentionReport:
    """Enforce every source's retention period (an image is kept ``retention_days`` after it
    was ingested) and every agency's probe retention. Expired images go the way erasure
    removes them (``services.rights._purge``: images, faces, templates, index entries, blobs;
    results that showed them keep a tombstone), one ``retention.purge`` entry per source,
    with hashes and counts only. Idempotent: a second run finds nothing to do and changes
    nothing. Authorisation: internal (the service's schedule; ``retention_run`` for people)."""
    now = now or utc_now()
    plans: list[PurgePlan] = []
    purged: list[SourcePurge] = []
    with ctx.sessions() as session:
        sources = list(session.scalars(select(Source).order_by(Source.id)))
    for source in sources:
        cutoff = now - timedelta(days=source.retention_days)
        with system_action(ctx, "retention.purge", source.name, actor="system") as session:
            expired = list(
                session.scalars(
                    select(Image.id).where(Image.source_id == source.id, Image.created_at <= cutoff)
                )
            )
            if not expired:
                continue
            # A retention period or an ingest date written outside facetrail purges nothing:
            # the images are held and the log says why.
            held = rows_problems(session, "images", expired)
            if source_problem := row_problem(session, "sources", source.id):
                held = {str(i): f"their source: {source_problem}" for i in expired}
            if held:
                details = {"images": sorted(held), "reason": next(iter(held.values()))}
                append(
                    session, AuditEvent(SYSTEM, "retention.held", f"source:{source.id}", details)
                )
                expired = [i for i in expired if str(i) not in held]
            # An image of an open case stays until its agency's head decides (legal hold).
            expired = gate(session, SYSTEM, expired, f"retention:{source.id}", now).go
            if not expired:
                continue
            gallery = session.scalar(select(Gallery.name).where(Gallery.id == source.gallery_id))
            plan = plan_purge(session, expired)
            apply_purge(session, plan, f"retention:{source.id}:{now:%Y-%m-%d}", now)
            event = RetentionPurged(
                actor=SYSTEM,
                agency=None,
                source=f"{gallery}/{source.name}",
                gallery=gallery or "",
                retention_days=source.retention_days,
                images=plan.image_hashes,
                faces=len(plan.face_ids),
                templates=len(plan.template_ids),
                tombstones=plan.tombstones,
            )
            append(session, event.entry())
        plans.append(plan)
        purged.append(
            SourcePurge(
                gallery or "",
                source.name,
                source.retention_days,
                len(plan.image_ids),
                len(plan.face_ids),
                len(plan.template_ids),
                plan.tombstones,
            )
        )
    entries = scrub_after(ctx, plans) if plans else 0
    probes = purge_expired_probes(ctx, now=now)
    return RetentionReport(purged, probes, entries)


@dataclass(frozen=True)
class RetentionDue:
    """A source with photos past its retention period: what a run now would remove (less
    any photo an open case holds, which waits for its agency head)."""

    gallery: str
    source: str
    retention_days: int
    images: int


def retention_due(
    ctx: AppContext, actor: Principal, *, now: datetime | None = None
) -> list[RetentionDue]:
    """The sources with photos past their retention now, for the confirmation before a run
    (gallery admins and system admins; counts only, so only a refusal is audited)."""
    require(ctx, actor, "retention.preview", "retention", Permission.MANAGE_GALLERIES)
    now = now or utc_now()
    due: list[RetentionDue] = []
    with ctx.sessions() as session:
        for source, gallery in session.execute(
            select(Source, Gallery.name)
            .join(Gallery, Gallery.id == Source.gallery_id)
            .order_by(Gallery.name, Source.name)
        ).all():
            cutoff = now - timedelta(days=source.retention_days)
            count = session.scalar(
                select(func.count(Image.id)).where(
                    Image.source_id == source.id, Image.created_at <= cutoff
                )
            )
            if count:
                due.append(RetentionDue(gallery, source.name, source.retention_days, int(count)))
    return due


def retention_run(
    ctx: AppContext, actor: Principal, *, now: datetime | None = None
) -> RetentionReport:
    """``run_retention`` on a gallery admin's or system admin's request (refusals audited)."""
    require(ctx, actor, "retention.run", "retention", Permission.MANAGE_GALLERIES)
    return run_retention(ctx, now=now)
