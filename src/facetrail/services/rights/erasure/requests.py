"""Opening, approving, deciding and cancelling erasure requests (see
``services.rights.erasure``)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    DailyLimitError,
    InvalidRequestError,
    NotFoundError,
)
from facetrail.governance import fields
from facetrail.governance.audit import append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.events import (
    ErasureApproved,
    ErasureCancelled,
    ErasureDecided,
    ErasureOpened,
)
from facetrail.imaging.decode import decode_image
from facetrail.services.accounts import current_policy
from facetrail.services.authorization import name_of_agency, utc_now
from facetrail.services.context import AppContext
from facetrail.services.notifications import notify_head, notify_users
from facetrail.services.rights._purge import (
    drop_blobs,
    held_blobs,
    scrub_after,
)
from facetrail.services.rights.erasure._access import acting_on, agency_of
from facetrail.services.rights.erasure._match import find_person, photo_templates, request_photos
from facetrail.services.rights.erasure._views import (
    ErasureRequest,
    ErasureView,
    erasure_view,
)
from facetrail.services.unit_of_work import action, require
from facetrail.store.schema import (
    ErasureMatch,
    ErasureRow,
    Gallery,
    User,
    UserRole,
)

__all__ = [
    "MAX_PHOTOS",
    "approve_erasure",
    "cancel_erasure",
    "decide_matches",
    "may_open",
    "open_erasure",
]


#: Photos one request may give.
MAX_PHOTOS = 20


def may_open(ctx: AppContext, actor: Principal, reference: str) -> None:
    """Refuse (audited) anyone but a gallery admin or system admin, before a photo is read."""
    subject = f"erasure request {reference[:60]}"
    require(ctx, actor, "erasure.open", subject, Permission.MANAGE_GALLERIES)


def open_erasure(ctx: AppContext, actor: Principal, request: ErasureRequest) -> ErasureView:
    """Record a person's request with their photos; it waits for a second person (see the
    module). No gallery is searched here."""
    subject = f"erasure request {request.reference[:60]}"
    may_open(ctx, actor, request.reference)
    kept: list[str] = []
    try:
        with action(ctx, actor, "erasure.open", subject, Permission.MANAGE_GALLERIES) as (
            session,
            who,
        ):
            reference = fields.check_name("reference", request.reference)
            check = fields.check_free_text("identity check", request.identity_check)
            if len(check) < 10:
                raise InvalidRequestError(
                    "say how the person's identity was checked (10+ characters)",
                    subject="identity_check",
                )
            if not 1 <= len(request.photos) <= MAX_PHOTOS:
                raise InvalidRequestError(
                    f"give 1 to {MAX_PHOTOS} photos of the person", subject="photos"
                )
            for photo in request.photos:  # each one an image, before any is kept
                decode_image(photo.data, name=photo.name, limits=ctx.limits)
            kept = [ctx.blobs.put(photo.data) for photo in request.photos]
            row = ErasureRow(
                reference=reference,
                identity_check=check,
                consent_blocklist=request.consent_blocklist,
                status="requested",
                requested_by=actor.user_id,
                agency_id=who.agency_id,
                photos=json.dumps(kept),
            )
            session.add(row)
            session.flush()
            agency = name_of_agency(session, who.agency_id)
            event = ErasureOpened(
                actor=actor.username,
                agency=agency,
                erasure_id=row.id,
                reference=reference,
                identity_check=check,
                consent_blocklist=request.consent_blocklist,
                photos=len(request.photos),
                matches=0,
                approval_needed=True,
            )
            append(session, event.entry())
            _tell_approvers(session, row, actor.username)
            return erasure_view(session, row)
    except BaseException:
        _forget(ctx, kept)
        raise


def _forget(ctx: AppContext, blobs: list[str]) -> None:
    """Photos put for a request that was not recorded (refused, or failed)."""
    if not blobs:
        return
    with ctx.sessions() as session:
        held = held_blobs(session, blobs)
    for sha in set(blobs) - held:
        ctx.blobs.delete(sha)


def _tell_approvers(session: Session, row: ErasureRow, opener: str) -> None:
    subject = f"Erasure request {row.id} waits for your approval"
    body = (
        f"{opener} opened erasure request {row.id} ({row.reference}). No gallery is searched "
        f"for the person until the agency head or a privacy officer approves it, on the page "
        f"/erasures/{row.id}."
    )
    if row.agency_id is not None:
        notify_head(session, row.agency_id, subject, body)
    officers = session.scalars(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.status == "active", UserRole.role == Role.PRIVACY_OFFICER.value)
        .where(User.id != row.requested_by)
    )
    notify_users(session, list(officers), subject, body)


def approve_erasure(ctx: AppContext, actor: Principal, erasure_id: int, note: str) -> ErasureView:
    """A second person lets the matching run (see the module); counted against the agency's
    daily search limit."""
    subject = f"erasure:{erasure_id}"
    with action(ctx, actor, "erasure.approve", subject, Permission.READ_ERASURES) as (
        session,
        who,
    ):
        row, _ = acting_on(
            session, who, erasure_id, ("requested",), approving="approving an erasure request"
        )
        photos = request_photos(ctx, row)
        galleries = list(session.scalars(select(Gallery).order_by(Gallery.name)))
        consent = row.consent_blocklist
    # The matching runs outside the write transaction; nothing of it is kept unless the
    # approval below commits.
    found = find_person(ctx, galleries, photos)
    templates = photo_templates(ctx, galleries, photos) if consent else None
    now = utc_now()
    with action(ctx, actor, "erasure.approve", subject, Permission.READ_ERASURES) as (
        session,
        who,
    ):
        note = fields.check_free_text("note", note, min_len=10)
        row, who = acting_on(
            session, who, erasure_id, ("requested",), approving="approving an erasure request"
        )
        agency_id = row.agency_id if row.agency_id is not None else who.agency_id
        _, policy = current_policy(session, agency_id)
        today = session.scalar(
            select(func.count(ErasureRow.id)).where(
                ErasureRow.agency_id == agency_id, ErasureRow.approved_at >= now - timedelta(days=1)
            )
        )
        if (today or 0) >= policy.daily_limit:
            raise DailyLimitError(
                f"{policy.daily_limit} erasure matchings approved in the last 24 hours: the "
                "agency's daily search limit",
                subject=subject,
            )
        row.status = "open"
        row.approved_by = who.user_id
        row.approved_at = now
        row.pending_templates = json.dumps(templates) if templates is not None else None
        for match in found.values():
            session.add(ErasureMatch(erasure_id=row.id, **match))
        event = ErasureApproved(
            actor=actor.username,
            agency=name_of_agency(session, agency_id),
            erasure_id=row.id,
            note=note,
            galleries=[g.name for g in galleries],
            matches=len(found),
        )
        append(session, event.entry())
        notify_users(
            session,
            [row.requested_by],
            f"Erasure request {row.id} approved: {len(found)} faces to decide",
            f"Decide each face found, beside the request photos, on the page /erasures/{row.id}.",
        )
        return erasure_view(session, row)


def decide_matches(
    ctx: AppContext,
    actor: Principal,
    erasure_id: int,
    confirmed: list[int],
    rejected: list[int],
) -> ErasureView:
    """The admin's call on each face found (match ids): confirmed ones will be removed, once a
    second person confirms the decisions by completing the request."""
    subject = f"erasure:{erasure_id}"
    with action(ctx, actor, "erasure.decide", subject, Permission.MANAGE_GALLERIES) as (
        session,
        who,
    ):
        row, _ = acting_on(session, who, erasure_id, ("open",))
        both = set(confirmed) & set(rejected)
        if both:
            raise InvalidRequestError(
                f"match {min(both)} is both confirmed and rejected", subject="matches"
            )
        matches = {
            m.id: m
            for m in session.scalars(select(ErasureMatch).where(ErasureMatch.erasure_id == row.id))
        }
        unknown = sorted((set(confirmed) | set(rejected)) - set(matches))
        if unknown:
            raise NotFoundError(f"no match {unknown[0]} in this request", subject=subject)
        for mid in confirmed:
            matches[mid].decision = "confirmed"
        for mid in rejected:
            matches[mid].decision = "rejected"
        row.decided_by = actor.user_id
        agency = agency_of(session, row)
        event = ErasureDecided(
            actor=actor.username,
            agency=agency,
            erasure_id=erasure_id,
            confirmed=sorted(confirmed),
            rejected=sorted(rejected),
        )
        append(session, event.entry())
        return erasure_view(session, row)


def cancel_erasure(ctx: AppContext, actor: Principal, erasure_id: int, reason: str) -> ErasureView:
    """Close a request that is not over without removing anything; its photos and kept
    templates go. The opener's side (gallery admins) or an approver may cancel."""
    subject = f"erasure:{erasure_id}"
    with action(ctx, actor, "erasure.cancel", subject, Permission.READ_ERASURES) as (session, who):
        reason = fields.check_free_text("reason", reason, min_len=1)
        row, _ = acting_on(session, who, erasure_id, ("requested", "open"))
        drop_blobs(session, json.loads(row.photos or "[]"))
        row.photos = None
        row.pending_templates = None
        row.status = "cancelled"
        row.completed_at = utc_now()
        agency = agency_of(session, row)
        event = ErasureCancelled(
            actor=actor.username, agency=agency, erasure_id=erasure_id, reason=reason
        )
        append(session, event.entry())
        view = erasure_view(session, row)
    scrub_after(ctx, [])
    return view
