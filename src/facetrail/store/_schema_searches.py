"""The tables of case-bound searches: a search and why it was asked, the candidates it
returned, the reviews of each candidate, and the probe templates the alert rules compare.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store._schema_base import Base, BigId, utcnow
from facetrail.store.vocabulary import (
    REVIEW_DECISIONS,
    REVIEW_STAGES,
    SEARCH_FAULTS,
    SEARCH_OUTCOMES,
    SEARCH_STATUSES,
    one_of,
)


class SearchRecord(Base):
    """A case-bound search: why it was asked, who allowed it, what it returned, its outcome."""

    __tablename__ = "searches"
    __table_args__ = (
        one_of("status", SEARCH_STATUSES),
        one_of("outcome", SEARCH_OUTCOMES),
        one_of("fault", SEARCH_FAULTS),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    case_number: Mapped[str] = mapped_column(String(100), index=True)
    offense: Mapped[str] = mapped_column(String(100))
    justification: Mapped[str] = mapped_column(Text)
    galleries: Mapped[str] = mapped_column(Text)  # JSON list of names
    probes: Mapped[str] = mapped_column(Text)  # JSON list of {name, sha256}
    top: Mapped[int] = mapped_column(Integer)
    face: Mapped[int | None] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer)
    #: SEARCH_STATUSES: pending -> approved | denied; approved -> done | failed
    status: Mapped[str] = mapped_column(String(20))
    needs_approval: Mapped[bool] = mapped_column(Boolean)
    second_review: Mapped[bool] = mapped_column(Boolean)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    #: JSON {gallery: {"pack": ..., "index": ..., "size": ...}} of what produced the results
    produced_by: Mapped[str | None] = mapped_column(Text)
    probe_faces: Mapped[str | None] = mapped_column(Text)  # JSON list of ProbeFace
    #: SEARCH_OUTCOMES: lead | no_lead
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    probe_purge_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    probes_purged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: for a failed search: "system" (does not count against the daily limit) or "input"
    fault: Mapped[str | None] = mapped_column(String(10))
    #: candidates left out of the results because they are opted-out people's faces (the
    #: ``search.run`` entry names the entries that put them on the opt-out list)
    withheld: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SearchCandidate(Base):
    """One stored candidate of a search, as it was when the search ran."""

    __tablename__ = "search_candidates"
    __table_args__ = (UniqueConstraint("search_id", "gallery", "rank"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    search_id: Mapped[int] = mapped_column(BigId, ForeignKey("searches.id"), index=True)
    gallery: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    template_id: Mapped[int] = mapped_column(BigId)
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_name: Mapped[str] = mapped_column(Text)
    subject_ref: Mapped[str | None] = mapped_column(String(200))
    face_index: Mapped[int] = mapped_column(Integer)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text)  # JSON of CandidateSource
    #: set when the candidate's person was erased: the candidate stays as a tombstone (its
    #: name blanked, its image and face gone) naming when and by which receipt
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erasure_receipt: Mapped[str | None] = mapped_column(String(64))


class Review(Base):
    """A person's call on one candidate; stage 2 is the independent second reviewer."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("candidate_id", "stage"),
        one_of("stage", REVIEW_STAGES),
        one_of("decision", REVIEW_DECISIONS),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(BigId, ForeignKey("search_candidates.id"), index=True)
    search_id: Mapped[int] = mapped_column(BigId, ForeignKey("searches.id"), index=True)
    stage: Mapped[int] = mapped_column(Integer)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: REVIEW_DECISIONS: possible_match | not_a_match | inconclusive
    decision: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the ``review.record`` entry of this review; the row must agree with it
    audit_seq: Mapped[int | None] = mapped_column(BigId)


class ProbeTemplateRow(Base):
    """A search's fused probe template (one per pack it ran with), kept exactly as long as its
    probe images (purged with them): what the ``probe_cases`` alert rule compares, so that the
    same face searched under another case number is found even when its file was re-saved."""

    __tablename__ = "probe_templates"
    __table_args__ = (UniqueConstraint("search_id", "pack"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    search_id: Mapped[int] = mapped_column(BigId, ForeignKey("searches.id"), index=True)
    pack: Mapped[str] = mapped_column(String(100))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
