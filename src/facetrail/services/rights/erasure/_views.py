"""What the erasure service answers with: a request as its readers see it, and the list."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.services.searching.search_model import ProbeImage
from facetrail.store.schema import Agency, ErasureMatch, ErasureRow, User

__all__ = ["ErasureRequest", "ErasureSummary", "ErasureView", "MatchView", "erasure_view"]


@dataclass(frozen=True)
class ErasureRequest:
    #: the admin's reference for the request (a ticket number), not the person's name
    reference: str
    #: how the person's identity was checked
    identity_check: str
    consent_blocklist: bool
    photos: tuple[ProbeImage, ...]


@dataclass(frozen=True)
class MatchView:
    id: int
    gallery: str
    template_id: int
    image_sha256: str
    face_index: int
    score: float
    fmr: float
    decision: str | None


@dataclass(frozen=True)
class ErasureView:
    id: int
    reference: str
    identity_check: str
    consent_blocklist: bool
    #: requested (waits for a second person) -> open (matches found) -> done | cancelled
    status: str
    requested_by: str
    created_at: str
    completed_at: str | None
    matches: list[MatchView]
    receipt_id: str | None
    #: the signed receipt (a signed note), once done
    receipt: str | None
    #: the opener's agency (whose head may approve), if known
    agency: str | None = None
    #: the second person who let the matching run, and when
    approved_by: str | None = None
    approved_at: str | None = None
    #: who made the decisions (completion is someone else's confirmation)
    decided_by: str | None = None
    #: how many request photos are kept while the request runs (shown beside the matches)
    photos: int = 0
    #: who opened it, their agency, and who decided its faces, as the authority module's
    #: rules name them (a page asks it which steps to offer its viewer)
    opener_id: int = 0
    opener_agency_id: int | None = None
    decider_id: int | None = None


@dataclass(frozen=True)
class ErasureSummary:
    id: int
    reference: str
    status: str
    requested_by: str
    created_at: str
    matches: int
    receipt_id: str | None


def _name(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == user_id))


def erasure_view(session: Session, row: ErasureRow) -> ErasureView:
    """The request as it stands in ``session`` (each step answers with it, in its own
    transaction: no second, audited read)."""
    matches = session.scalars(
        select(ErasureMatch).where(ErasureMatch.erasure_id == row.id).order_by(ErasureMatch.id)
    )
    agency = (
        session.scalar(select(Agency.name).where(Agency.id == row.agency_id))
        if row.agency_id is not None
        else None
    )
    return ErasureView(
        row.id,
        row.reference,
        row.identity_check,
        row.consent_blocklist,
        row.status,
        _name(session, row.requested_by) or "",
        row.created_at.isoformat(timespec="seconds"),
        row.completed_at.isoformat(timespec="seconds") if row.completed_at else None,
        [
            MatchView(
                m.id,
                m.gallery,
                m.template_id,
                m.image_sha256,
                m.face_index,
                m.score,
                m.fmr,
                m.decision,
            )
            for m in matches
        ],
        row.receipt_id,
        row.receipt,
        agency,
        _name(session, row.approved_by),
        row.approved_at.isoformat(timespec="seconds") if row.approved_at else None,
        _name(session, row.decided_by),
        len(json.loads(row.photos)) if row.photos else 0,
        row.requested_by,
        row.agency_id,
        row.decided_by,
    )
