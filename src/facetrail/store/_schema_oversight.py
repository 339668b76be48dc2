"""The tables of an agency's oversight: its policy versions and the relaxations waiting
for a second person, the misuse alerts raised for it, its imported open-case list, and the
accuracy figures recorded for publication.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store._schema_base import Base, BigId, utcnow
from facetrail.store.vocabulary import ALERT_RULES, ALERT_STATUSES, PROPOSAL_STATUSES, one_of


class PolicyVersion(Base):
    """One version of an agency's policy; the current one is the highest version."""

    __tablename__ = "agency_policies"
    __table_args__ = (UniqueConstraint("agency_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON of governance.policy.Policy
    changed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the ``policy.change`` audit entry that made this version; the row must agree with it
    audit_seq: Mapped[int | None] = mapped_column(BigId)


class PolicyProposal(Base):
    """A policy version that relaxes an agency's oversight (turns alert rules off or loosens
    them, or relaxes the approval a search needs), waiting for a second person outside its
    proposer's say-so before it takes effect (``services.oversight.policy_proposals``)."""

    __tablename__ = "policy_proposals"
    __table_args__ = (one_of("status", PROPOSAL_STATUSES),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: the version in force when it was proposed: it is confirmed only over that version
    base_version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON of governance.policy.Policy
    reason: Mapped[str] = mapped_column(Text)
    #: what it relaxes, as said to the head and in the log (JSON list of sentences)
    relaxed: Mapped[str] = mapped_column(Text)
    #: PROPOSAL_STATUSES: pending -> confirmed | refused | withdrawn
    status: Mapped[str] = mapped_column(String(20), index=True)
    proposed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    #: the policy version it became, once confirmed
    version: Mapped[int | None] = mapped_column(Integer)


class AlertRow(Base):
    """A misuse alert a rule raised for an agency (``governance.alerts``), and what its head
    or auditors did with it: acknowledged and closed, each with a note. Every step is an
    ``alert.*`` entry that the row must agree with."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("agency_id", "key"),
        one_of("rule", ALERT_RULES),
        one_of("status", ALERT_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    #: the finding's identity: a rule raises one alert per key
    key: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    #: the user it is about (a username), if one
    username: Mapped[str | None] = mapped_column(String(100))
    searches: Mapped[str] = mapped_column(Text)  # JSON list of search ids
    status: Mapped[str] = mapped_column(String(20), index=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledge_note: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_note: Mapped[str | None] = mapped_column(Text)


class OpenCase(Base):
    """A case number on an agency's open-case list (an optional import; the ``open_cases``
    alert rule checks searches' case numbers against it once there is one)."""

    __tablename__ = "open_cases"
    __table_args__ = (UniqueConstraint("agency_id", "case_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    case_number: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvaluationRow(Base):
    """A pack's measured accuracy, recorded for publication (transparency reports): the
    figures of ``facetrail eval identification --record`` on a dataset, with or without masks,
    by demographic group where the dataset labels them."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    pack: Mapped[str] = mapped_column(String(100), index=True)
    dataset: Mapped[str] = mapped_column(String(200))
    mask: Mapped[str] = mapped_column(String(20))
    figures: Mapped[str] = mapped_column(Text)  # canonical JSON of the evaluation's figures
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the ``evaluation.record`` entry, which holds the same figures
    audit_seq: Mapped[int | None] = mapped_column(BigId)
