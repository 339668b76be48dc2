"""The audit events of people's rights and what removes images: an erasure request opened,
approved, decided, done or cancelled; legal holds raised and decided; and retention purges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from facetrail.governance._events_base import Event


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
