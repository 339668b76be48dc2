"""A source's provenance corrected, and a source retired: each change checked as a new source's
values are, recorded with its before, after and reason; a retired source takes no more photos
(``check_not_retired``, which ingestion and its jobs call) and keeps those it has.

Authorisation: gallery admins and system admins. Audit: ``gallery.source.edit`` and
``gallery.source.retire`` (refusals too)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError, StateError
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries._source_fields import (
    check_collection_date,
    check_legal_basis,
    check_retention,
)
from facetrail.services.galleries.admin import (
    SourceInfo,
    get_gallery_row,
    get_source_row,
    show_gallery,
    shown_name,
)
from facetrail.services.unit_of_work import action
from facetrail.store.schema import Image, Source, SourceRetirement, User


@dataclass(frozen=True)
class EditSourceRequest:
    """What to change of a source (None: leave as recorded) and why."""

    gallery: str
    name: str
    reason: str
    kind: str | None = None
    legal_basis: str | None = None
    supplied_by: str | None = None
    collected_at: str | None = None  # ISO date
    retention_days: int | None = None


@dataclass(frozen=True)
class FieldChange:
    before: str | int
    after: str | int


@dataclass(frozen=True)
class SourceEdit:
    """A source as edited, and each changed field's value before and after."""

    source: SourceInfo
    changes: dict[str, FieldChange]


#: the shortest reason for editing or retiring a source
MIN_REASON = 10


def reason_problem(reason: str) -> str | None:
    """What is wrong with a reason for editing or retiring a source, in words (None: fine)."""
    if len(reason.strip()) < MIN_REASON:
        return f"give a reason of at least {MIN_REASON} characters: it is kept in the audit log"
    return None


def _reason(reason: str) -> str:
    problem = reason_problem(reason)
    if problem is not None:
        raise InvalidRequestError(problem, subject="reason")
    return fields.check_free_text("reason", reason)


def edit_source(ctx: AppContext, actor: Principal, request: EditSourceRequest) -> SourceEdit:
    """Change what is recorded of a source (kind, legal basis, supplier, collection date,
    retention), saying why. Its name and images stay; a retired source is changed all the same
    (its provenance may need correcting). Each value is checked as ``add_source`` checks it.

    Authorisation: a gallery admin or system admin. Audit: ``gallery.source.edit`` with each
    changed field's value before and after and the reason; any refusal (nothing changed
    included) as ``gallery.source.edit.refused``.
    """
    subject = f"{shown_name(request.gallery)}/{shown_name(request.name)}"
    with action(ctx, actor, "gallery.source.edit", subject, Permission.MANAGE_GALLERIES) as (
        session,
        _,
    ):
        reason = _reason(request.reason)
        wanted: dict[str, str | int] = {}
        if request.kind is not None:
            wanted["kind"] = fields.check_name("kind", request.kind)
        if request.legal_basis is not None:
            wanted["legal_basis"] = check_legal_basis(request.legal_basis)
        if request.supplied_by is not None:
            wanted["supplied_by"] = fields.check_name("supplied by", request.supplied_by)
        if request.collected_at is not None:
            wanted["collected_at"] = check_collection_date(request.collected_at)
        if request.retention_days is not None:
            wanted["retention_days"] = check_retention(request.retention_days)
        source = get_source_row(session, get_gallery_row(session, request.gallery), request.name)
        changes = {
            field: (getattr(source, field), value)
            for field, value in wanted.items()
            if getattr(source, field) != value
        }
        if not changes:
            raise InvalidRequestError(
                "nothing to change: every value given is the one recorded", subject="source"
            )
        for field, (_before, after) in changes.items():
            setattr(source, field, after)
        details = {
            "changes": {f: {"before": b, "after": a} for f, (b, a) in changes.items()},
            "reason": reason,
        }
        append(session, AuditEvent(actor.username, "gallery.source.edit", subject, details))
        gallery_name = source.gallery.name
    info = next(s for s in show_gallery(ctx, gallery_name).sources if s.name == request.name)
    return SourceEdit(info, {f: FieldChange(b, a) for f, (b, a) in changes.items()})


def retire_source(
    ctx: AppContext, actor: Principal, gallery: str, name: str, reason: str
) -> SourceInfo:
    """Retire a source: nothing more is ingested into it (an ingest naming it is refused,
    saying when and by whom it was retired); its images stay, under its retention, and can
    still be erased. Not undone: a source to use again is added anew, under another name.

    Authorisation: a gallery admin or system admin. Audit: ``gallery.source.retire`` with the
    reason and the images it holds; any refusal (already retired included) as
    ``gallery.source.retire.refused``.
    """
    subject = f"{shown_name(gallery)}/{shown_name(name)}"
    with action(ctx, actor, "gallery.source.retire", subject, Permission.MANAGE_GALLERIES) as (
        session,
        who,
    ):
        why = _reason(reason)
        source = get_source_row(session, get_gallery_row(session, gallery), name)
        check_not_retired(session, source)
        images = (
            session.scalar(select(func.count(Image.id)).where(Image.source_id == source.id)) or 0
        )
        session.add(
            SourceRetirement(
                source_id=source.id, retired_by=who.user_id, retired_at=utc_now(), reason=why
            )
        )
        details = {"reason": why, "images": images}
        append(session, AuditEvent(actor.username, "gallery.source.retire", subject, details))
        gallery_name = source.gallery.name
    return next(s for s in show_gallery(ctx, gallery_name).sources if s.name == name)


def check_not_retired(session: Session, source: Source) -> None:
    """Refuse, in words, to add to a retired source."""
    found = session.execute(
        select(SourceRetirement.retired_at, User.username)
        .join(User, User.id == SourceRetirement.retired_by)
        .where(SourceRetirement.source_id == source.id)
    ).first()
    if found is not None:
        when, who = found
        raise StateError(
            f"source {source.name!r} was retired on {when.date().isoformat()} by {who}: "
            "nothing more is ingested into it (add a new source for new photos)",
            subject=source.name,
        )
