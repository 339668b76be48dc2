"""The audit events of a case-bound search: asked for, approved or denied, run or failed,
its candidates reviewed, its outcome recorded, and its probes checked against the staff
gallery.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from facetrail.governance._events_base import Event


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
    #: the faces fit to search counted in each probe, and whether that made it a crowd probe
    #: (held for approval; a refused one is a ``search.refused`` entry with the counts)
    faces: list[int] = dataclasses.field(default_factory=list)
    crowd: bool = False
    #: the words the requester attested to (``governance.attestation``; None: an entry from
    #: before attestations were asked for)
    attestation: str | None = None
    #: the offense category was one the policy marks as close to protected activity, and the
    #: second, named reason the requester gave for it
    protected: bool = False
    protected_reason: str | None = None


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
