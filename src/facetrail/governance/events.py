"""Typed audit events: one class per kind, in the manner of Datasette's ``events.py``.

Each class says what one kind of entry holds, which agency it concerns and how its subject is
named; ``entry()`` makes the ``AuditEvent`` that ``audit.append`` writes, and ``read_events``
turns stored entries back into these classes. Alerts, digests and reports count these, read
by the indexed agency column, never strings parsed out of details by hand.

The agency an event concerns is the agency the thing belongs to: a search's is the agency it
ran for, even when a network operator of another agency ran it (``on_behalf_of`` and the
actor say who did), so a network's searches for a member count as the member's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.audit import AuditEvent
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


@dataclass(frozen=True, kw_only=True)
class Event:
    """Who did it, the agency it concerns; set when read back: where and when it was logged."""

    kind: ClassVar[str]
    #: how the subject is written: ``prefix`` + the field ``subject_field`` (``search:12``)
    subject_prefix: ClassVar[str] = ""
    subject_field: ClassVar[str] = ""
    #: the few kinds whose details also held the agency before it had a column of its own
    agency_in_details: ClassVar[bool] = False

    actor: str
    agency: str | None
    seq: int = 0
    at: str = ""

    def subject(self) -> str:
        return f"{self.subject_prefix}{getattr(self, self.subject_field)}"

    def details(self) -> dict[str, Any]:
        skipped = {"actor", "agency", "seq", "at", self.subject_field}
        body = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skipped
        }
        if self.agency_in_details:
            body["agency"] = self.agency
        return body

    def entry(self) -> AuditEvent:
        """The audit entry to append for this event."""
        return AuditEvent(self.actor, self.kind, self.subject(), self.details(), self.agency)

    @classmethod
    def from_entry(cls, row: AuditEntryRow, details: dict[str, Any]) -> Self:
        """This event as the entry ``row`` (whose details are ``details``) records it; fields
        an older entry lacks take their defaults."""
        values: dict[str, Any] = {"actor": row.actor, "agency": row.agency}
        values |= {"seq": row.seq, "at": row.at}
        raw = row.subject.removeprefix(cls.subject_prefix)
        for f in dataclasses.fields(cls):
            if f.name in values:
                continue
            if f.name == cls.subject_field:
                values[f.name] = int(raw) if f.type in ("int", int) else raw
            elif f.name in details:
                values[f.name] = details[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                values[f.name] = None
        return cls(**values)


# -- searches ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _SearchEvent(Event):
    subject_prefix: ClassVar[str] = "search:"
    subject_field: ClassVar[str] = "search_id"

    search_id: int


@dataclass(frozen=True, kw_only=True)
class SearchRequested(_SearchEvent):
    """A search asked for (stored pending, or run at once). ``actor`` asked; for a network
    operator, ``on_behalf_of`` is the member agency it is for (also ``agency``)."""

    kind: ClassVar[str] = "search.request"
    agency_in_details: ClassVar[bool] = True

    case: str
    offense: str
    justification: str
    galleries: list[str]
    probes: list[str]
    on_behalf_of: str | None = None
    policy_version: int = 0
    needs_approval: bool = False
    second_review: bool = False
    top: int = 0
    face: int | None = None


@dataclass(frozen=True, kw_only=True)
class SearchRan(_SearchEvent):
    """A search's run, with what produced its candidates and their template ids and scores."""

    kind: ClassVar[str] = "search.run"

    produced_by: dict[str, Any]
    candidates: dict[str, list[list[float]]]
    seconds: float = 0.0
    #: pack -> SHA-256 of the probe template kept for the alert rules (``probe_templates``)
    probe_templates: dict[str, str] = dataclasses.field(default_factory=dict)
    #: candidates left out as opted-out people's, and the ``erasure.done`` entries (seq) that
    #: put those people on the opt-out list
    withheld: int = 0
    withheld_by: list[int] = dataclasses.field(default_factory=list)

    def template_ids(self) -> list[int]:
        return [int(pair[0]) for found in self.candidates.values() for pair in found]


@dataclass(frozen=True, kw_only=True)
class SearchFailed(_SearchEvent):
    kind: ClassVar[str] = "search.failed"

    code: str
    reason: str
    fault: str | None = None


@dataclass(frozen=True, kw_only=True)
class SearchApproved(_SearchEvent):
    kind: ClassVar[str] = "search.approve"

    note: str


@dataclass(frozen=True, kw_only=True)
class SearchDenied(_SearchEvent):
    kind: ClassVar[str] = "search.deny"

    note: str


@dataclass(frozen=True, kw_only=True)
class ReviewRecorded(_SearchEvent):
    kind: ClassVar[str] = "review.record"

    candidate: int
    stage: int
    decision: str
    note: str


@dataclass(frozen=True, kw_only=True)
class OutcomeRecorded(_SearchEvent):
    kind: ClassVar[str] = "search.outcome"

    outcome: str
    #: the candidates review confirmed as possible matches
    confirmed: list[int]
    note: str
    label: str = ""


@dataclass(frozen=True, kw_only=True)
class StaffChecked(_SearchEvent):
    """A search's probes compared with its agency's staff gallery (the ``staff_match`` alert
    rule): the staff members matched, by reference, never a face."""

    kind: ClassVar[str] = "search.staff_check"

    gallery: str
    matched: list[str]
    #: why no comparison could be made (the probes were purged, no face was found), or None
    problem: str | None = None


# -- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _AccountEvent(Event):
    subject_field: ClassVar[str] = "username"

    username: str


@dataclass(frozen=True, kw_only=True)
class AccountRequested(_AccountEvent):
    kind: ClassVar[str] = "account.request"
    agency_in_details: ClassVar[bool] = True

    supervisor: str
    account_type: str
    roles: list[str]


@dataclass(frozen=True, kw_only=True)
class AccountCreated(_AccountEvent):
    kind: ClassVar[str] = "account.create"
    agency_in_details: ClassVar[bool] = True

    roles: list[str]


@dataclass(frozen=True, kw_only=True)
class AccountApprovalGiven(_AccountEvent):
    """One person's approval of a requested account that is not yet enough to make it active
    (its agency's head, or two different people, make it so)."""

    kind: ClassVar[str] = "account.approval"

    #: how many more approvals it needs
    needed: int


@dataclass(frozen=True, kw_only=True)
class AccountApproved(_AccountEvent):
    """A requested account made active; ``approvers``: everyone whose approval counted."""

    kind: ClassVar[str] = "account.approve"

    account_type: str
    trial_expires_at: str | None = None
    approvers: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class AccountSuspended(_AccountEvent):
    kind: ClassVar[str] = "account.suspend"

    reason: str


@dataclass(frozen=True, kw_only=True)
class AgencyCreated(Event):
    """An agency given access, and the network it reaches facetrail through, if one."""

    kind: ClassVar[str] = "agency.create"
    subject_field: ClassVar[str] = "name"

    name: str
    trial_days: int = 30
    network: str | None = None


@dataclass(frozen=True, kw_only=True)
class DomainRegistered(Event):
    """An e-mail domain registered for an agency: its accounts' e-mails are on one."""

    kind: ClassVar[str] = "agency.domain.add"
    subject_field: ClassVar[str] = "name"

    name: str
    domain: str


@dataclass(frozen=True, kw_only=True)
class DomainRemoved(Event):
    kind: ClassVar[str] = "agency.domain.remove"
    subject_field: ClassVar[str] = "name"

    name: str
    domain: str


# -- oversight ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _AlertEvent(Event):
    subject_prefix: ClassVar[str] = "alert:"
    subject_field: ClassVar[str] = "alert_id"

    alert_id: int


@dataclass(frozen=True, kw_only=True)
class AlertRaised(_AlertEvent):
    """A misuse rule fired: ``rule`` and what it found (ids and counts, never a face)."""

    kind: ClassVar[str] = "alert.raise"

    rule: str
    key: str
    summary: str
    user: str | None = None
    searches: list[int] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class AlertAcknowledged(_AlertEvent):
    kind: ClassVar[str] = "alert.acknowledge"

    note: str


@dataclass(frozen=True, kw_only=True)
class AlertClosed(_AlertEvent):
    kind: ClassVar[str] = "alert.close"

    note: str


@dataclass(frozen=True, kw_only=True)
class _RelaxationEvent(Event):
    subject_prefix: ClassVar[str] = "relaxation:"
    subject_field: ClassVar[str] = "relaxation_id"

    relaxation_id: int


@dataclass(frozen=True, kw_only=True)
class RelaxationProposed(_RelaxationEvent):
    """A policy version that relaxes the agency's oversight (alert rules, the approval
    searches need), proposed over version ``base_version``: it waits for a second person."""

    kind: ClassVar[str] = "policy.relaxation.propose"

    base_version: int
    relaxed: list[str]
    reason: str


@dataclass(frozen=True, kw_only=True)
class RelaxationDecided(_RelaxationEvent):
    """A second person's call on a proposed relaxation: confirmed (in force as ``version``)
    or refused. ``as_role``: what made them someone outside the proposer's say-so."""

    kind: ClassVar[str] = "policy.relaxation.decide"

    confirmed: bool
    note: str
    as_role: str
    version: int | None = None


@dataclass(frozen=True, kw_only=True)
class DigestSent(Event):
    """A digest sent to an agency's head for a period (its figures, as sent)."""

    kind: ClassVar[str] = "digest.send"
    subject_field: ClassVar[str] = "head"

    head: str
    period_from: str
    period_to: str
    figures: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class EvaluationRecorded(Event):
    """A pack's measured accuracy recorded for publication (``evaluations``)."""

    kind: ClassVar[str] = "evaluation.record"
    subject_field: ClassVar[str] = "pack"

    pack: str
    dataset: str
    mask: str
    figures: dict[str, Any]


# -- people's rights ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _ErasureEvent(Event):
    subject_prefix: ClassVar[str] = "erasure:"
    subject_field: ClassVar[str] = "erasure_id"

    erasure_id: int


@dataclass(frozen=True, kw_only=True)
class ErasureOpened(_ErasureEvent):
    """A person's erasure request recorded: how their identity was checked, how many photos
    they gave, how many gallery faces were found (no face, no template)."""

    kind: ClassVar[str] = "erasure.open"

    reference: str
    identity_check: str
    consent_blocklist: bool
    photos: int
    matches: int
    #: the request waits for a second person before any matching (False: opened before
    #: four eyes, when the matching ran at once and ``matches`` counts what it found)
    approval_needed: bool = False


@dataclass(frozen=True, kw_only=True)
class ErasureApproved(_ErasureEvent):
    """A second person (the opener's agency head or a privacy officer) let the matching run:
    the galleries searched and how many faces were found at the strict threshold."""

    kind: ClassVar[str] = "erasure.approve"

    note: str
    galleries: list[str]
    matches: int


@dataclass(frozen=True, kw_only=True)
class ErasureDecided(_ErasureEvent):
    kind: ClassVar[str] = "erasure.decide"

    confirmed: list[int]
    rejected: list[int]


@dataclass(frozen=True, kw_only=True)
class ErasureDone(_ErasureEvent):
    """What an erasure removed, by hash and count, and its receipt's id."""

    kind: ClassVar[str] = "erasure.done"

    receipt_id: str
    galleries: list[str]
    images: list[str]
    faces: int
    templates: int
    tombstones: int
    blocklisted: bool
    #: opt-out templates kept in the blocklist (0 without consent), and their SHA-256
    blocklist_entries: int = 0
    blocklist: list[str] = dataclasses.field(default_factory=list)
    #: images confirmed but kept, held for open cases by their agency head (SHA-256)
    held: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ErasureCancelled(_ErasureEvent):
    kind: ClassVar[str] = "erasure.cancel"

    reason: str


@dataclass(frozen=True, kw_only=True)
class _HoldEvent(Event):
    subject_prefix: ClassVar[str] = "hold:"
    subject_field: ClassVar[str] = "hold_id"

    hold_id: int


@dataclass(frozen=True, kw_only=True)
class HoldRaised(_HoldEvent):
    """An image an erasure or retention would remove is a candidate or lead of open cases:
    it is held until the agency's head decides (its investigators and head are told)."""

    kind: ClassVar[str] = "hold.raise"

    image: str
    gallery: str
    cases: list[str]
    cause: str


@dataclass(frozen=True, kw_only=True)
class HoldDecided(_HoldEvent):
    kind: ClassVar[str] = "hold.decide"

    #: "released" (the image may go) or "kept"
    decision: str
    note: str


@dataclass(frozen=True, kw_only=True)
class RetentionPurged(Event):
    """A source's images past its retention period purged as erasure purges them."""

    kind: ClassVar[str] = "retention.purge"
    subject_field: ClassVar[str] = "source"

    source: str
    gallery: str
    retention_days: int
    images: list[str]
    faces: int
    templates: int
    tombstones: int


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
