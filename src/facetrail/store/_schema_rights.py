"""The tables of people's rights and what they remove: erasure requests and the faces
found for them, the opt-out blocklist, the legal holds that keep an open case's images, and
the follow-up work a purge leaves after its commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store._schema_base import Base, BigId, utcnow
from facetrail.store.vocabulary import ERASURE_DECISIONS, ERASURE_STATUSES, HOLD_STATUSES, one_of


class ErasureRow(Base):
    """A person's request to be erased from every gallery: how their identity was checked,
    whether they consent to an opt-out template being kept, the faces found and the receipt
    of what was removed."""

    __tablename__ = "erasures"
    __table_args__ = (one_of("status", ERASURE_STATUSES),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: the gallery admin's reference for the request (a ticket number), not the person's name
    reference: Mapped[str] = mapped_column(String(200))
    identity_check: Mapped[str] = mapped_column(Text)
    #: the person agreed that an opt-out template be kept to refuse re-enrolment
    consent_blocklist: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the submitted photos' templates while the request is open (JSON {pack: [base64]}),
    #: emptied when it is done or cancelled (kept in the blocklist only with consent)
    pending_templates: Mapped[str | None] = mapped_column(Text)
    #: the opener's agency: whose head approves it and sees it in oversight (None: before 0007)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: the second person who let the matching run (agency head or privacy officer)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: who made the last decisions on the matches (completion is someone else's)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the request photos' blob hashes (JSON list) while the request is not over: matched
    #: after approval and shown to the decider beside each match's crop; deleted at the end
    photos: Mapped[str | None] = mapped_column(Text)
    #: the signed receipt (a signed note) and its id (SHA-256 of the receipt's text)
    receipt: Mapped[str | None] = mapped_column(Text)
    receipt_id: Mapped[str | None] = mapped_column(String(64))


class ErasureMatch(Base):
    """A gallery face found for an erasure request above the strict threshold, and the
    gallery admin's call on it."""

    __tablename__ = "erasure_matches"
    __table_args__ = (
        UniqueConstraint("erasure_id", "template_id"),
        one_of("decision", ERASURE_DECISIONS),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    erasure_id: Mapped[int] = mapped_column(BigId, ForeignKey("erasures.id"), index=True)
    gallery: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[int] = mapped_column(BigId)
    image_sha256: Mapped[str] = mapped_column(String(64))
    face_index: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    fmr: Mapped[float] = mapped_column(Float)
    decision: Mapped[str | None] = mapped_column(String(10))


class BlocklistEntry(Base):
    """An erased person's opt-out template, kept only with their consent and used only to
    refuse their re-enrolment and to keep them out of results; never searched."""

    __tablename__ = "blocklist"
    __table_args__ = (Index("ix_blocklist_pack", "pack"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack: Mapped[str] = mapped_column(String(100))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    erasure_id: Mapped[int] = mapped_column(BigId, ForeignKey("erasures.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LegalHold(Base):
    """An image that is a candidate or a lead of an open case, which an erasure or retention
    would remove: it stays until its agency's head decides (released: it may go; kept: it
    stays, and the erasure or retention goes on without it). The case's investigators and
    head are told when the hold is raised."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        UniqueConstraint("image_id", "agency_id", "cause"),
        one_of("status", HOLD_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    image_id: Mapped[int] = mapped_column(BigId, index=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    gallery: Mapped[str] = mapped_column(String(200))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: the open cases (JSON list of case numbers) the image is a candidate or lead of
    cases: Mapped[str] = mapped_column(Text)
    #: what would remove it: "erasure:<id>" or "retention:<source id>"
    cause: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class PurgeFollowup(Base):
    """What a purge (erasure, retention) leaves to do after its commit, written in its
    transaction: the blobs to delete and the galleries whose index files to write anew. Done
    right after the commit, and by housekeeping after a crash in between (``_purge``)."""

    __tablename__ = "purge_followups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: JSON list of blob SHA-256s no image or kept probe holds any more
    blobs: Mapped[str] = mapped_column(Text)
    #: JSON list of gallery ids
    galleries: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
