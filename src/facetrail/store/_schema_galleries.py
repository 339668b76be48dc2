"""The tables of galleries and what is ingested into them: a gallery, the lawful sources
of its images (and their retirement), the images, their faces and templates, the files that
failed, the background jobs that ingest them, and the seal of each gallery's index file.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from facetrail.store._schema_base import Base, BigId, utcnow
from facetrail.store.vocabulary import JOB_KINDS, JOB_STATUSES, one_of


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


class SourceRetirement(Base):
    """A source retired: no image is ingested into it any more (those it holds stay, under
    its retention). A table of its own, so that retiring writes a new sealed row and no seal
    of an existing source changes."""

    __tablename__ = "source_retirements"

    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    retired_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)


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


class IndexSeal(Base):
    """The content hash of a gallery's index file as facetrail last wrote it: sealed by the
    log like every row (its ``index.write`` entry names the hash too), so a file edited on
    disk, its metadata re-hashed to match, is found when a worker loads it and on the
    service's schedule (``services.galleries.indexing``), and rebuilt from the store."""

    __tablename__ = "index_seals"

    gallery_id: Mapped[int] = mapped_column(ForeignKey("galleries.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
