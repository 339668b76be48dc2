"""Who may act on an erasure request, and the request read under the action's lock.

Gallery admins and system admins (the opener's side), privacy officers, and the head of the
opener's agency may read a request; the last two (never the opener) approve it and confirm
its decisions. Anyone else is refused before the request is looked up, so that the refusal
says nothing of which requests exist; a head of another agency is told there is no such
request.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from facetrail.errors import NotFoundError, PermissionDeniedError, StateError
from facetrail.governance.authority import (
    Actor,
    may_approve_erasure,
    may_read_erasures,
    sees_every_erasure,
)
from facetrail.governance.seal_checks import require_sealed
from facetrail.services.authorization import name_of_agency
from facetrail.store.schema import ErasureRow

__all__ = ["acting_on", "agency_of"]


def acting_on(
    session: Session,
    who: Actor,
    erasure_id: int,
    states: tuple[str, ...] | None = None,
    *,
    approving: str | None = None,
) -> tuple[ErasureRow, Actor]:
    """The request, locked, if ``who`` (the actor as their action read them) may read it
    (and, with ``approving``, the step's name, approve it), in one of ``states`` -> (the
    request, ``who``)."""
    subject = f"erasure:{erasure_id}"
    if not may_read_erasures(who):
        raise PermissionDeniedError(
            "needs gallery_admin, system_admin, privacy_officer or agency_head", subject=subject
        )
    row = session.get(ErasureRow, erasure_id, with_for_update=True)
    if row is None or not (sees_every_erasure(who) or row.agency_id == who.agency_id):
        raise NotFoundError("no such erasure request", subject=subject)
    # A request edited outside facetrail (its photos re-pointed at someone else's, its state
    # or approver changed) is not acted on.
    require_sealed(session, f"erasure request {erasure_id}", {"erasures": [row]})
    if approving is not None and not may_approve_erasure(who, row.requested_by, row.agency_id):
        raise PermissionDeniedError(
            f"{approving} is for the opener's agency head or a privacy officer, never the opener",
            subject=subject,
        )
    if states is not None and row.status not in states:
        raise StateError(f"the request is {row.status}", subject=subject)
    return row, who


def agency_of(session: Session, row: ErasureRow) -> str | None:
    """The name of the opener's agency (None for a request made before it was recorded)."""
    return name_of_agency(session, row.agency_id) if row.agency_id is not None else None
