"""The audit events of oversight: misuse alerts raised, acknowledged and closed, policy
relaxations proposed and decided by a second person, digests sent to agency heads, and
accuracy figures recorded for publication.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from facetrail.governance._events_base import Event


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
