"""Typed audit events: one class per kind, in the manner of Datasette's ``events.py``.

Each class says what one kind of entry holds, which agency it concerns and how its subject is
named; ``entry()`` makes the ``AuditEvent`` that ``audit.append`` writes, and ``read_events``
turns stored entries back into these classes. Alerts, digests and reports count these, read
by the indexed agency column, never strings parsed out of details by hand.

The agency an event concerns is the agency the thing belongs to: a search's is the agency it
ran for, even when a network operator of another agency ran it (``on_behalf_of`` and the
actor say who did), so a network's searches for a member count as the member's.

The classes are defined by topic in the private ``_events_*`` modules beside this one
(searches, accounts, oversight, people's rights), on the base ``Event`` of ``_events_base``;
this module is where facetrail imports them from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance._events_accounts import (
    AccountApprovalGiven,
    AccountApproved,
    AccountCreated,
    AccountRequested,
    AccountSuspended,
    AgencyCreated,
    DomainRegistered,
    DomainRemoved,
)
from facetrail.governance._events_base import Event
from facetrail.governance._events_oversight import (
    AlertAcknowledged,
    AlertClosed,
    AlertRaised,
    DigestSent,
    EvaluationRecorded,
    RelaxationDecided,
    RelaxationProposed,
)
from facetrail.governance._events_rights import (
    ErasureApproved,
    ErasureCancelled,
    ErasureDecided,
    ErasureDone,
    ErasureOpened,
    HoldDecided,
    HoldRaised,
    RetentionPurged,
)
from facetrail.governance._events_searches import (
    OutcomeRecorded,
    ReviewRecorded,
    SearchApproved,
    SearchDenied,
    SearchFailed,
    SearchRan,
    SearchRequested,
    StaffChecked,
)
from facetrail.store.schema import AuditEntryRow

__all__ = [
    "ERASURE_STEPS",
    "EVENT_CLASSES",
    "AccountApprovalGiven",
    "AccountApproved",
    "AccountCreated",
    "AccountRequested",
    "AccountSuspended",
    "AgencyCreated",
    "AlertAcknowledged",
    "AlertClosed",
    "AlertRaised",
    "DigestSent",
    "DomainRegistered",
    "DomainRemoved",
    "ErasureApproved",
    "ErasureCancelled",
    "ErasureDecided",
    "ErasureDone",
    "ErasureOpened",
    "EvaluationRecorded",
    "Event",
    "HoldDecided",
    "HoldRaised",
    "OutcomeRecorded",
    "RelaxationDecided",
    "RelaxationProposed",
    "RetentionPurged",
    "ReviewRecorded",
    "SearchApproved",
    "SearchDenied",
    "SearchFailed",
    "SearchRan",
    "SearchRequested",
    "StaffChecked",
    "read_events",
]

#: The steps of an erasure request that oversight counts, by the event that records each.
ERASURE_STEPS: tuple[tuple[str, type[Event]], ...] = (
    ("opened", ErasureOpened),
    ("approved", ErasureApproved),
    ("cancelled", ErasureCancelled),
    ("completed", ErasureDone),
)

EVENT_CLASSES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SearchRequested,
        SearchRan,
        SearchFailed,
        SearchApproved,
        SearchDenied,
        ReviewRecorded,
        OutcomeRecorded,
        StaffChecked,
        AccountRequested,
        AccountCreated,
        AccountApprovalGiven,
        AccountApproved,
        AccountSuspended,
        AgencyCreated,
        DomainRegistered,
        DomainRemoved,
        AlertRaised,
        AlertAcknowledged,
        AlertClosed,
        RelaxationProposed,
        RelaxationDecided,
        DigestSent,
        EvaluationRecorded,
        ErasureOpened,
        ErasureApproved,
        ErasureDecided,
        ErasureDone,
        ErasureCancelled,
        RetentionPurged,
        HoldRaised,
        HoldDecided,
    )
}


E = TypeVar("E", bound=Event)


def read_events(
    session: Session,
    kinds: Sequence[type[E]],
    *,
    agencies: Iterable[str] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[E]:
    """The logged events of ``kinds`` (oldest first), of ``agencies`` if given (by the
    indexed column), logged at ``since`` or after and before ``until`` (ISO times)."""
    by_kind = {cls.kind: cls for cls in kinds}
    stmt = select(AuditEntryRow).where(AuditEntryRow.kind.in_(list(by_kind)))
    if agencies is not None:
        stmt = stmt.where(AuditEntryRow.agency.in_(list(agencies)))
    if since is not None:
        stmt = stmt.where(AuditEntryRow.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntryRow.at < until)
    return [
        by_kind[row.kind].from_entry(row, json.loads(row.details))
        for row in session.scalars(stmt.order_by(AuditEntryRow.seq))
    ]
