"""Reading erasure requests: one, the list, and the faces to decide beside the request photos
(see ``services.rights.erasure``)."""

from __future__ import annotations

import json

import cv2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    NotFoundError,
    PermissionDeniedError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    may,
    may_approve_erasure,
    may_read_erasures,
    sees_every_erasure,
)
from facetrail.governance.credentials import Principal
from facetrail.imaging.decode import decode_image
from facetrail.services.context import AppContext
from facetrail.services.rights.erasure._access import acting_on
from facetrail.services.rights.erasure._views import (
    ErasureSummary,
    ErasureView,
    erasure_view,
)
from facetrail.services.searching._matching import crop
from facetrail.services.unit_of_work import action, refusals_recorded
from facetrail.store.schema import (
    ErasureMatch,
    ErasureRow,
    Face,
    Image,
    TemplateRow,
    User,
)

__all__ = [
    "count_erasures_waiting",
    "list_erasures",
    "match_crop",
    "request_photo",
    "show_erasure",
]


def show_erasure(ctx: AppContext, actor: Principal, erasure_id: int) -> ErasureView:
    """One request with the faces found and, once done, its receipt (who may: see
    ``erasure._access``; audited as ``erasure.view``, refusals too)."""
    subject = f"erasure:{erasure_id}"
    with action(ctx, actor, "erasure.view", subject, Permission.READ_ERASURES) as (session, who):
        row, _ = acting_on(session, who, erasure_id)
        view = erasure_view(session, row)
        append(session, AuditEvent(actor.username, "erasure.view", subject))
    return view


def request_photo(ctx: AppContext, actor: Principal, erasure_id: int, number: int) -> bytes:
    """Request photo ``number`` (from 1) while the request runs, as JPEG made anew from its
    pixels (no metadata of the file given; audited as ``erasure.crop_view``, refusals too)."""
    subject = f"erasure:{erasure_id}"
    with action(ctx, actor, "erasure.crop_view", subject, Permission.READ_ERASURES) as (
        session,
        who,
    ):
        row, _ = acting_on(session, who, erasure_id, ("requested", "open"))
        photos = json.loads(row.photos or "[]")
        if not 1 <= number <= len(photos):
            raise NotFoundError(f"the request has {len(photos)} photos", subject=subject)
        append(session, AuditEvent(actor.username, "erasure.crop_view", subject, {"photo": number}))
        sha = photos[number - 1]
    with refusals_recorded(ctx, actor.username, "erasure.crop_view", subject):
        data = ctx.blobs.get(sha)
    image = decode_image(data, name=f"photo {number}", limits=ctx.limits).bgr
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return bytes(buf) if ok else b""


def match_crop(ctx: AppContext, actor: Principal, erasure_id: int, match_id: int) -> bytes:
    """The face a match found, cut from its gallery image, to decide beside the request
    photos (audited as ``erasure.crop_view``, refusals too)."""
    subject = f"erasure:{erasure_id}"
    with action(ctx, actor, "erasure.crop_view", subject, Permission.READ_ERASURES) as (
        session,
        who,
    ):
        row, _ = acting_on(session, who, erasure_id, ("open",))
        found = session.execute(
            select(Face, Image.sha256)
            .join(TemplateRow, TemplateRow.face_id == Face.id)
            .join(Image, Image.id == Face.image_id)
            .join(ErasureMatch, ErasureMatch.template_id == TemplateRow.id)
            .where(ErasureMatch.id == match_id, ErasureMatch.erasure_id == row.id)
        ).first()
        if found is None:
            raise NotFoundError(f"no match {match_id} in this request", subject=subject)
        face, sha = found
        append(
            session, AuditEvent(actor.username, "erasure.crop_view", subject, {"match": match_id})
        )
        box = (face.x1, face.y1, face.x2, face.y2)
    with refusals_recorded(ctx, actor.username, "erasure.crop_view", subject):
        return crop(ctx, sha, box)


def list_erasures(ctx: AppContext, actor: Principal) -> list[ErasureSummary]:
    """The requests its reader may see, newest first: gallery admins, system admins and
    privacy officers every one, an agency head their agency's (audited as ``erasure.list``,
    refusals too)."""
    with action(ctx, actor, "erasure.list", "erasures", Permission.READ_ERASURES) as (session, who):
        stmt = (
            select(ErasureRow, User.username)
            .join(User, User.id == ErasureRow.requested_by)
            .order_by(ErasureRow.id.desc())
        )
        if not may_read_erasures(who):
            raise PermissionDeniedError(
                "needs gallery_admin, system_admin, privacy_officer or agency_head",
                subject="erasures",
            )
        if not sees_every_erasure(who):
            stmt = stmt.where(ErasureRow.agency_id == who.agency_id)  # a head: their agency's
        rows = session.execute(stmt).all()
        counts = dict(
            session.execute(
                select(ErasureMatch.erasure_id, func.count(ErasureMatch.id)).group_by(
                    ErasureMatch.erasure_id
                )
            ).all()
        )
        append(session, AuditEvent(actor.username, "erasure.list", "erasures"))
        return [
            ErasureSummary(
                r.id,
                r.reference,
                r.status,
                by,
                r.created_at.isoformat(timespec="seconds"),
                int(counts.get(r.id, 0)),
                r.receipt_id,
            )
            for r, by in rows
        ]


def count_erasures_waiting(session: Session, who: Actor) -> int:
    """How many erasure requests wait for a step ``who`` may take: a request to let run
    (``may_approve_erasure``), faces to decide (a gallery admin), decisions to confirm by
    someone other than whoever decided (the navigation's count; not audited,
    ``list_erasures`` is)."""
    if not may_read_erasures(who):
        return 0  # none of the steps is theirs: nothing to read
    deciding = may(who, Permission.MANAGE_GALLERIES)
    rows = session.execute(
        select(
            ErasureRow.status,
            ErasureRow.requested_by,
            ErasureRow.agency_id,
            ErasureRow.decided_by,
        ).where(ErasureRow.status.in_(("requested", "open")))
    ).all()
    waiting = 0
    for status, opener, agency_id, decided_by in rows:
        approver = may_approve_erasure(who, opener, agency_id)
        if status == "requested":
            waiting += approver
        elif decided_by is None:
            waiting += deciding
        else:
            waiting += approver and decided_by != who.user_id
    return waiting
