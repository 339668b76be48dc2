"""Removing gallery images for good, as erasure on request and retention both do: the images,
their faces and templates go in the caller's locked transaction, the stored search results
that showed them become tombstones (when, and which receipt), and the galleries' templates
versions move on; after commit (work written with it, in ``purge_followups``, so a crash in
between loses none: housekeeping finishes it), their blobs are deleted, the galleries' index
files are written anew from the store, and the database's freed space is scrubbed (SQLite overwrites
deleted content, ``secure_delete``, and its WAL is emptied; PostgreSQL runs VACUUM FULL on the
tables when ``erasure_vacuum_full`` is set, VACUUM otherwise).

Authorisation and audit: the callers' (``services.rights.erasure``, ``services.rights.retention``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from facetrail.governance.audit import AuditEvent, append
from facetrail.services.context import AppContext
from facetrail.services.galleries.indexing import rewrite_index
from facetrail.services.unit_of_work import system_action
from facetrail.store.schema import (
    ErasureRow,
    Face,
    Gallery,
    Image,
    PurgeFollowup,
    SearchCandidate,
    SearchRecord,
    TemplateRow,
)

__all__ = [
    "ERASED_NAME",
    "PurgePlan",
    "apply_purge",
    "drop_blobs",
    "finish_purges",
    "held_blobs",
    "plan_purge",
    "scrub_after",
]

#: What a tombstoned candidate's image name becomes.
ERASED_NAME = "(erased)"
_SCRUBBED_TABLES = ("templates", "faces", "images", "search_candidates", "erasures", "blocklist")


@dataclass
class PurgePlan:
    """What removing some images removes: read in the action's transaction, before."""

    image_ids: list[int]
    galleries: dict[int, str]
    image_hashes: list[str]
    face_ids: list[int]
    template_ids: list[int]
    #: SHA-256 of each template's stored bytes (what a receipt lists: never the bytes)
    template_hashes: list[str]
    tombstones: int
    blobs: list[str] = field(default_factory=list)


def plan_purge(session: Session, image_ids: list[int]) -> PurgePlan:
    ids = sorted(set(image_ids))
    images = session.execute(
        select(Image.id, Image.sha256, Gallery.id, Gallery.name)
        .join(Gallery, Gallery.id == Image.gallery_id)
        .where(Image.id.in_(ids))
    ).all()
    face_ids = list(session.scalars(select(Face.id).where(Face.image_id.in_(ids))))
    templates = session.execute(
        select(TemplateRow.id, TemplateRow.vector).where(TemplateRow.face_id.in_(face_ids))
    ).all()
    template_ids = [int(t) for t, _ in templates]
    tombstones = int(
        session.scalar(
            select(func.count(SearchCandidate.id)).where(
                SearchCandidate.template_id.in_(template_ids), SearchCandidate.erased_at.is_(None)
            )
        )
        or 0
    )
    return PurgePlan(
        [int(i) for i, _, _, _ in images],
        {int(gid): name for _, _, gid, name in images},
        sorted({sha for _, sha, _, _ in images}),
        face_ids,
        template_ids,
        sorted(hashlib.sha256(bytes(v)).hexdigest() for _, v in templates),
        tombstones,
    )


def apply_purge(
    session: Session, plan: PurgePlan, receipt: str, now: datetime, also: tuple[str, ...] = ()
) -> None:
    """Tombstone the results, delete the templates, faces and images, move the galleries'
    templates versions on (so every worker's cached index is reconciled). ``also``: other
    blobs to delete with the images' (an erasure request's photos)."""
    session.execute(
        update(SearchCandidate)
        .where(
            SearchCandidate.template_id.in_(plan.template_ids), SearchCandidate.erased_at.is_(None)
        )
        .values(erased_at=now, erasure_receipt=receipt, image_name=ERASED_NAME, subject_ref=None)
    )
    session.execute(delete(TemplateRow).where(TemplateRow.id.in_(plan.template_ids)))
    session.execute(delete(Face).where(Face.id.in_(plan.face_ids)))
    session.execute(delete(Image).where(Image.id.in_(plan.image_ids)))
    session.execute(
        update(Gallery)
        .where(Gallery.id.in_(list(plan.galleries)))
        .values(templates_version=Gallery.templates_version + 1)
    )
    # A blob another gallery still holds, or a search keeps as its probe, stays.
    gone = sorted(set(plan.image_hashes) | set(also))
    plan.blobs.extend(sorted(set(gone) - held_blobs(session, gone)))
    # What is left to do after the commit is written with it: a crash in between loses none.
    session.add(
        PurgeFollowup(blobs=json.dumps(plan.blobs), galleries=json.dumps(sorted(plan.galleries)))
    )


def drop_blobs(session: Session, blobs: list[str]) -> None:
    """Delete these blobs after the caller's commit (an erasure request's photos once it is
    over), by the same follow-up a purge writes: a crash in between loses none."""
    if blobs:
        session.add(PurgeFollowup(blobs=json.dumps(sorted(blobs)), galleries="[]"))


def scrub_after(ctx: AppContext, plans: list[PurgePlan]) -> int:
    """After commit: delete the blobs, write the galleries' indexes anew, scrub the database's
    freed space (``finish_purges``). -> index entries written."""
    return finish_purges(ctx)


def finish_purges(ctx: AppContext) -> int:
    """Do what committed purges left to do (``purge_followups``): right after their commit,
    and in housekeeping after a crash in between. A blob an image or kept probe holds again
    (the same photo ingested since) stays. Each follow-up is removed once done, logged as
    ``purge.followup`` (counts, never hashes). -> index entries written."""
    with ctx.sessions() as session:
        pending = session.execute(
            select(PurgeFollowup.id, PurgeFollowup.blobs, PurgeFollowup.galleries).order_by(
                PurgeFollowup.id
            )
        ).all()
    if not pending:
        return 0
    blobs = sorted({sha for _, text_, _ in pending for sha in json.loads(text_)})
    galleries = sorted({int(g) for _, _, text_ in pending for g in json.loads(text_)})
    with ctx.sessions() as session:
        held = held_blobs(session, blobs)
    for sha in blobs:
        if sha not in held:
            ctx.blobs.delete(sha)
    entries = 0
    with ctx.sessions() as session:
        for gallery in session.scalars(select(Gallery).where(Gallery.id.in_(galleries))):
            entries += rewrite_index(ctx, session, gallery)
    with system_action(ctx, "purge.followup", "purge", actor="system") as session:
        session.execute(
            delete(PurgeFollowup).where(PurgeFollowup.id.in_([i for i, _, _ in pending]))
        )
        details = {"followups": len(pending), "blobs": len(blobs) - len(held & set(blobs))}
        append(
            session,
            AuditEvent(
                "system", "purge.followup", "purge", details | {"galleries": len(galleries)}
            ),
        )
    scrub_database(ctx)
    return entries


def held_blobs(session: Session, blobs: list[str]) -> set[str]:
    """Which of ``blobs`` an image, a kept search probe or a running erasure request's photos
    hold: one pass over the kept probes (stopping once every blob is found held), not a scan
    of the searches per blob."""
    held = set(session.scalars(select(Image.sha256).where(Image.sha256.in_(blobs))))
    for photos in session.scalars(select(ErasureRow.photos).where(ErasureRow.photos.is_not(None))):
        held |= set(blobs) & set(json.loads(photos or "[]"))
    rest = set(blobs) - held
    if rest:
        for probes in session.scalars(
            select(SearchRecord.probes).where(SearchRecord.probes_purged.is_(False))
        ):
            found = rest & {p["sha256"] for p in json.loads(probes)}
            held |= found
            rest -= found
            if not rest:
                break
    return held


def scrub_database(ctx: AppContext) -> None:
    """Deleted rows' bytes gone from the database files: SQLite overwrote them as it deleted
    (``secure_delete``); its WAL, which may still hold older copies of those pages, is
    checkpointed and truncated. PostgreSQL rewrites the tables (VACUUM FULL, a lock while it
    runs) or, with ``erasure_vacuum_full`` off, marks the space free (plain VACUUM)."""
    engine = ctx.engine
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    full = "FULL, " if ctx.settings.erasure_vacuum_full else ""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in _SCRUBBED_TABLES:
            connection.execute(text(f"VACUUM ({full}ANALYZE) {table}"))
