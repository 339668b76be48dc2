"""SQLAlchemy 2 typed ORM models: galleries with provenance, images, faces, templates.

Keys of the tables that grow without bound (images, faces, templates, the audit log, searches
and their candidates and reviews, mail) are ``BigId``: 64-bit on PostgreSQL, SQLite's
INTEGER (64-bit already) so that they stay rowid aliases there. Every status-like column
holds one of the values ``store.vocabulary`` lists, enforced by a named CHECK constraint.
Migration 0002 brought a database of the first revision to this; a change here needs a new
revision (tests/store compare the two).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from facetrail.store.vocabulary import (
    ACCOUNT_TYPES,
    ALERT_RULES,
    ALERT_STATUSES,
    ERASURE_DECISIONS,
    ERASURE_STATUSES,
    HOLD_STATUSES,
    JOB_KINDS,
    JOB_STATUSES,
    PROPOSAL_STATUSES,
    REVIEW_DECISIONS,
    REVIEW_STAGES,
    ROLES,
    SEARCH_FAULTS,
    SEARCH_OUTCOMES,
    SEARCH_STATUSES,
    USER_STATUSES,
    one_of,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: A key that grows without bound: BIGINT on PostgreSQL; on SQLite INTEGER (already 64-bit),
#: which keeps an INTEGER PRIMARY KEY the rowid alias, so autoincrement is unchanged there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",  # SQLAlchemy's default, which revision 0001 used
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )


class Gallery(Base):
    __tablename__ = "galleries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    pack: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Bumped in the transaction of every change to the gallery's templates (an ingest), so a
    #: worker knows with one row read whether its cached index is still current.
    templates_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: a staff gallery: the agency whose staff it holds, for the ``staff_match`` alert rule
    #: alone; no policy may grant it and no search reads it
    staff_of: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))

    sources: Mapped[list[Source]] = relationship(back_populates="gallery")


class Source(Base):
    """Where a set of images lawfully came from: facetrail keeps no image without one."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("gallery_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text)
    supplied_by: Mapped[str] = mapped_column(String(200))
    collected_at: Mapped[str] = mapped_column(String(40))
    retention_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    gallery: Mapped[Gallery] = relationship(back_populates="sources")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("gallery_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(Text)
    subject_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(20))
    face_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Face(Base):
    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("image_id", "face_index"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    image_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    face_index: Mapped[int] = mapped_column(Integer)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[str] = mapped_column(Text)  # JSON [[x, y] x 5]
    detector_score: Mapped[float] = mapped_column(Float)
    inter_eye_px: Mapped[float] = mapped_column(Float)
    blur: Mapped[float] = mapped_column(Float)
    yaw_deg: Mapped[float] = mapped_column(Float)
    roll_deg: Mapped[float] = mapped_column(Float)


class TemplateRow(Base):
    """A face's embedding; ``pack`` + ``kind`` say which model made it and from what."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("face_id", "pack", "kind"),
        Index("ix_templates_gallery_pack_kind", "gallery_id", "pack", "kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    face_id: Mapped[int] = mapped_column(BigId, ForeignKey("faces.id", ondelete="CASCADE"))
    # Denormalised so that the index of one gallery is one indexed query away.
    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id"))
    pack: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class IngestFailure(Base):
    """A file that could not be ingested, and why; kept so that re-runs skip it."""

    __tablename__ = "ingest_failures"
    __table_args__ = (UniqueConstraint("gallery_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntryRow(Base):
    """One entry of the append-only audit log; ``seq`` is its 1-based position (leaf seq-1).

    ``leaf_hash`` caches H(0x00 || canonical bytes); verification recomputes it from the
    columns, so editing any field is caught.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_agency_kind_at", "agency", "kind", "at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(80), index=True)
    subject: Mapped[str] = mapped_column(Text, index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    #: the agency the entry concerns (``governance.events``), hashed with the entry when set
    agency: Mapped[str | None] = mapped_column(String(200))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointRow(Base):
    """A signed statement of the log's size and root at a time (Ed25519)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigId)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class Network(Base):
    """A regional service that runs searches for member agencies."""

    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id"), index=True)
    head_user_id: Mapped[int | None] = mapped_column(Integer)


class User(Base):
    """A person with an account. It does nothing until a supervisor approves it."""

    __tablename__ = "users"
    __table_args__ = (one_of("status", USER_STATUSES), one_of("account_type", ACCOUNT_TYPES))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(200))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    password_hash: Mapped[str] = mapped_column(Text)
    #: the TOTP secret sealed with the secrets key (AES-GCM, see governance/credentials);
    #: None until its owner enrols a second factor
    totp_secret: Mapped[str | None] = mapped_column(Text)
    #: USER_STATUSES: requested | active | suspended
    status: Mapped[str] = mapped_column(String(20))
    #: ACCOUNT_TYPES: trial | full
    account_type: Mapped[str] = mapped_column(String(10))
    trial_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the last TOTP time step accepted: each code is accepted once
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: when the owner confirmed their second factor; None: they enrol at their next sign-in
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: set by a password reset: the one-time password works until then, only to set a new one
    password_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: SHA-256 of the one-time enrolment code mailed to the owner alone when someone else set
    #: up the account or reset its second factor: enrolling needs it (the granter never sees it)
    enrol_code_hash: Mapped[str | None] = mapped_column(String(64))
    enrol_code_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (one_of("role", ROLES),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: the audit entry that granted this person their current roles (all rows share it)
    audit_seq: Mapped[int | None] = mapped_column(BigId)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InboxMessage(Base):
    """An in-app notification (e.g. to an agency head: a request, an approval, a suspension)."""

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxEmail(Base):
    """An e-mail written in the action's transaction and delivered after commit (retried)."""

    __tablename__ = "outbox_emails"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: None until delivered: what delivery looks for, in a table that keeps every e-mail
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: for the recipient's eyes only (an enrolment code): never copied to an inbox, and its
    #: body is blanked once delivered
    private: Mapped[bool] = mapped_column(Boolean, default=False)


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


class AuditHeadRow(Base):
    """The audit log's head: one row (id 1) that every append locks, so positions are taken
    one at a time, holding the size and the Merkle frontier (compact range) of the log so far
    so a checkpoint's root needs no re-read of the log."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigId)
    #: Roots of the frontier's perfect subtrees, 32 bytes each, left to right.
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


class JobRow(Base):
    """Long work the service does in the background (an ingestion): who asked, what, how far
    it got, and whether someone asked it to stop. A job whose worker stopped (its heartbeat
    went stale) is taken up again by another and resumes where the store says it was."""

    __tablename__ = "jobs"
    __table_args__ = (one_of("kind", JOB_KINDS), one_of("status", JOB_STATUSES))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: the request as JSON (an ingestion: folder, gallery, source, manifest)
    params: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    done_items: Mapped[int] = mapped_column(BigId, default=0)
    total_items: Mapped[int | None] = mapped_column(BigId)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the summary when done, the problem when failed
    result: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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


class RowSeal(Base):
    """The seal the log last gave a row (``governance.seals``): which entry, the row's digest
    and its columns' digests (16 bytes each, in column-name order), so that a row can be held
    to the log where it is used and ``audit verify`` can name the column that changed. An
    index of the log, never its authority: ``audit verify`` rebuilds it from the entries."""

    __tablename__ = "row_seals"

    tbl: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(BigId)
    digest: Mapped[str] = mapped_column(String(32))
    columns: Mapped[bytes] = mapped_column(LargeBinary)


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


class IndexSeal(Base):
    """The content hash of a gallery's index file as facetrail last wrote it: sealed by the
    log like every row (its ``index.write`` entry names the hash too), so a file edited on
    disk, its metadata re-hashed to match, is found when a worker loads it and on the
    service's schedule (``services.indexing``), and rebuilt from the store."""

    __tablename__ = "index_seals"

    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SealNote(Base):
    """A row an acting transaction wrote, noted by a trigger until the transaction seals it
    (``store.sealing``): PostgreSQL's notes, by transaction id. SQLite keeps its notes in a
    TEMP table of the same shape per connection, which shadows this one."""

    __tablename__ = "seal_pending"

    txid: Mapped[int] = mapped_column(BigId, primary_key=True)
    tbl: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    #: the columns its updates changed ("a,b,"), or "*": inserted or deleted
    changed: Mapped[str] = mapped_column(Text, primary_key=True)


class AgencyDomain(Base):
    """An e-mail domain an agency registered (by its head or a system admin): an account of
    the agency, granted or requested, has its e-mail there, so that a request comes from a
    mailbox the agency gave out and its enrolment code goes to one."""

    __tablename__ = "agency_domains"
    __table_args__ = (UniqueConstraint("agency_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: lower case, as ``governance.fields.check_email_domain`` writes it
    domain: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccountApproval(Base):
    """One person's approval of a requested account: the account is active once its agency's
    head approved it, or two different people did (``governance.authority``)."""

    __tablename__ = "account_approvals"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PolicyProposal(Base):
    """A policy version that relaxes an agency's oversight (turns alert rules off or loosens
    them, or relaxes the approval a search needs), waiting for a second person outside its
    proposer's say-so before it takes effect (``services.policy_proposals``)."""

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
