"""Legal hold: an image that is a candidate or a lead of an open case is neither erased nor
purged by retention until its agency's head decides.

A case is open while one of its searches has no recorded outcome, or while its number is on
the agency's open-case list. ``gate`` is what erasure and retention ask, in their own
transaction, before they remove images: it raises a hold (``hold.raise``; the case's
investigators and the agency's head are told) for each image and agency not yet asked about,
and says which images may go (every hold on them released), which stay (a hold kept) and which
wait (a hold pending). ``decide_hold``: the agency head releases or keeps (``hold.decide``).

Authorisation: deciding and listing holds is the agency head's (``authority.may_decide_hold``);
audited, refusals too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from facetrail.errors import NotFoundError, PermissionDeniedError, StateError
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may_decide_hold
from facetrail.governance.credentials import Principal
from facetrail.governance.events import HoldDecided, HoldRaised
from facetrail.governance.seal_checks import require_sealed
from facetrail.services.authorization import name_of_agency, utc_now
from facetrail.services.context import AppContext
from facetrail.services.notifications import notify_head, notify_users
from facetrail.services.unit_of_work import action
from facetrail.store.schema import (
    Gallery,
    Image,
    LegalHold,
    OpenCase,
    SearchCandidate,
    SearchRecord,
)

__all__ = ["Gate", "HoldView", "decide_hold", "gate", "list_holds"]


@dataclass(frozen=True)
class Gate:
    """What an erasure or retention may do with the images it asked about."""

    #: image ids that may go (no open case, or every hold on them released)
    go: list[int]
    #: image ids that stay: an agency head kept them
    kept: list[int]
    #: image ids waiting for a head's decision
    waiting: list[int]
    #: holds raised by this call (their heads and investigators were told)
    raised: int


@dataclass(frozen=True)
class HoldView:
    id: int
    image_sha256: str
    gallery: str
    agency: str
    cases: list[str]
    cause: str
    status: str
    raised_at: str
    note: str | None


def _open_cases_of(session: Session, image_ids: list[int]) -> dict[tuple[int, int], set[str]]:
    """(image id, agency id) -> the agency's open case numbers the image is a candidate of."""
    open_case = or_(
        SearchRecord.outcome.is_(None),
        exists().where(
            and_(
                OpenCase.agency_id == SearchRecord.agency_id,
                OpenCase.case_number == SearchRecord.case_number,
            )
        ),
    )
    rows = session.execute(
        select(Image.id, SearchRecord.agency_id, SearchRecord.case_number)
        .join(Gallery, Gallery.id == Image.gallery_id)
        .join(
            SearchCandidate,
            and_(
                SearchCandidate.image_sha256 == Image.sha256,
                SearchCandidate.gallery == Gallery.name,
            ),
        )
        .join(SearchRecord, SearchRecord.id == SearchCandidate.search_id)
        .where(Image.id.in_(image_ids), SearchCandidate.erased_at.is_(None), open_case)
    ).all()
    found: dict[tuple[int, int], set[str]] = defaultdict(set)
    for image_id, agency_id, case in rows:
        found[(int(image_id), int(agency_id))].add(case)
    return found


def gate(session: Session, actor: str, image_ids: list[int], cause: str, now: datetime) -> Gate:
    """Hold what ``cause`` ("erasure:<id>", "retention:<source id>") would remove from open
    cases (see the module); in the caller's transaction, which must commit for the holds it
    raises to stand."""
    cases = _open_cases_of(session, image_ids) if image_ids else {}
    held: dict[int, list[LegalHold]] = defaultdict(list)
    raised = 0
    for (image_id, agency_id), numbers in sorted(cases.items()):
        hold = session.scalar(
            select(LegalHold).where(
                LegalHold.image_id == image_id,
                LegalHold.agency_id == agency_id,
                LegalHold.cause == cause,
            )
        )
        if hold is None:
            hold = _raise(session, actor, image_id, agency_id, sorted(numbers), cause, now)
            raised += 1
        else:  # a hold set to "released" outside facetrail lets nothing go
            require_sealed(session, f"legal hold {hold.id}", {"legal_holds": [hold]})
        held[image_id].append(hold)
    go = [i for i in image_ids if all(h.status == "released" for h in held.get(i, []))]
    kept = [i for i in image_ids if any(h.status == "kept" for h in held.get(i, []))]
    waiting = [
        i for i in image_ids if i not in kept and any(h.status == "pending" for h in held[i])
    ]
    return Gate(go, kept, waiting, raised)


def _raise(
    session: Session,
    actor: str,
    image_id: int,
    agency_id: int,
    cases: list[str],
    cause: str,
    now: datetime,
) -> LegalHold:
    image, gallery = session.execute(
        select(Image, Gallery.name).join(Gallery).where(Image.id == image_id)
    ).one()
    hold = LegalHold(
        image_id=image_id,
        image_sha256=image.sha256,
        gallery=gallery,
        agency_id=agency_id,
        cases=json.dumps(cases),
        cause=cause,
        status="pending",
        raised_at=now,
    )
    session.add(hold)
    session.flush()
    agency = name_of_agency(session, agency_id)
    event = HoldRaised(
        actor=actor,
        agency=agency,
        hold_id=hold.id,
        image=image.sha256,
        gallery=gallery,
        cases=cases,
        cause=cause,
    )
    append(session, event.entry())
    named = ", ".join(cases[:_NAMED]) + (
        f" and {len(cases) - _NAMED} more" if len(cases) > _NAMED else ""
    )
    subject = f"Legal hold {hold.id}: an image of {_cases(len(cases))} would be removed"
    body = (
        f"Image {image.sha256[:16]}… of gallery {gallery} is a candidate or lead of open case "
        f"{named}, and {cause.split(':')[0]} would remove it. It stays until the agency head "
        f"decides, on the page /holds."
    )
    notify_head(session, agency_id, subject, body)
    investigators = session.scalars(
        select(SearchRecord.requester_id)
        .where(SearchRecord.agency_id == agency_id, SearchRecord.case_number.in_(cases))
        .distinct()
    )
    notify_users(session, list(investigators), subject, body)
    return hold


#: Case numbers a notice names (the hold lists them all).
_NAMED = 10


def _cases(count: int) -> str:
    return "an open case" if count == 1 else f"{count} open cases"


def decide_hold(
    ctx: AppContext, actor: Principal, hold_id: int, release: bool, note: str
) -> HoldView:
    """The agency head's decision on a pending hold: ``release`` lets the image go, otherwise
    it is kept (the erasure or retention goes on without it)."""
    subject = f"hold:{hold_id}"
    with action(ctx, actor, "hold.decide", subject, Permission.DECIDE_HOLDS) as (session, who):
        note = fields.check_free_text("note", note, min_len=10)
        hold = session.get(LegalHold, hold_id, with_for_update=True)
        if hold is None or not may_decide_hold(who, hold.agency_id):
            if hold is None or who.agency_id != hold.agency_id:
                raise NotFoundError("no such legal hold", subject=subject)
            raise PermissionDeniedError(
                "only the agency head decides a legal hold", subject=subject
            )
        require_sealed(session, f"legal hold {hold_id}", {"legal_holds": [hold]})
        if hold.status != "pending":
            raise StateError(f"the hold is already {hold.status}", subject=subject)
        hold.status = "released" if release else "kept"
        hold.decided_by = who.user_id
        hold.decided_at = utc_now()
        hold.note = note
        agency = name_of_agency(session, hold.agency_id)
        event = HoldDecided(
            actor=actor.username, agency=agency, hold_id=hold.id, decision=hold.status, note=note
        )
        append(session, event.entry())
        return _view(hold, agency)


def list_holds(ctx: AppContext, actor: Principal) -> list[HoldView]:
    """The holds of the head's agency, pending first (audited as ``hold.list``)."""
    with action(ctx, actor, "hold.list", "holds", Permission.DECIDE_HOLDS) as (session, who):
        if not may_decide_hold(who, who.agency_id):
            raise PermissionDeniedError(
                "only an agency head reads its legal holds", subject="holds"
            )
        agency = name_of_agency(session, who.agency_id)
        rows = session.scalars(
            select(LegalHold)
            .where(LegalHold.agency_id == who.agency_id)
            .order_by((LegalHold.status != "pending"), LegalHold.id.desc())
        )
        views = [_view(h, agency) for h in rows]
        append(session, AuditEvent(actor.username, "hold.list", "holds", agency=agency))
        return views


def _view(hold: LegalHold, agency: str) -> HoldView:
    return HoldView(
        hold.id,
        hold.image_sha256,
        hold.gallery,
        agency,
        json.loads(hold.cases),
        hold.cause,
        hold.status,
        hold.raised_at.isoformat(timespec="seconds"),
        hold.note,
    )
