"""Galleries and their sources (provenance). Every image belongs to a recorded source.

Authorisation: creating galleries and adding, editing or retiring sources needs a gallery admin
or system admin. Audit: each is an entry (refusals too). Names and texts follow
``governance.fields``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facetrail.errors import (
    FacetrailError,
    GalleryExistsError,
    GalleryNotFoundError,
    NotFoundError,
    SourceExistsError,
    SourceNotFoundError,
)
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.models.registry import get_pack
from facetrail.services.context import AppContext
from facetrail.services.galleries._source_fields import (
    check_collection_date,
    check_legal_basis,
    check_retention,
)
from facetrail.services.unit_of_work import action
from facetrail.store.schema import (
    Agency,
    Face,
    Gallery,
    Image,
    IngestFailure,
    Source,
    SourceRetirement,
    TemplateRow,
    User,
)


@dataclass(frozen=True)
class CreateGalleryRequest:
    name: str
    pack: str | None = None
    description: str = ""
    #: a staff gallery of this agency: never searched; only the ``staff_match`` alert rule
    #: compares the agency's probes with it
    staff_of: str | None = None


@dataclass(frozen=True)
class CreateSourceRequest:
    gallery: str
    name: str
    kind: str
    legal_basis: str
    supplied_by: str
    collected_at: str  # ISO date
    retention_days: int


@dataclass(frozen=True)
class Retirement:
    at: str  # ISO 8601
    by: str
    reason: str


@dataclass(frozen=True)
class SourceInfo:
    name: str
    kind: str
    legal_basis: str
    supplied_by: str
    collected_at: str
    retention_days: int
    images: int
    #: None while images may be ingested into it
    retired: Retirement | None = None


@dataclass(frozen=True)
class GalleryInfo:
    name: str
    pack: str
    description: str
    created_at: str
    images: int
    faces: int
    templates: int
    failures: int
    sources: list[SourceInfo]
    #: the agency whose staff gallery this is (never searched), or None
    staff_of: str | None = None


def create_gallery(ctx: AppContext, actor: Principal, request: CreateGalleryRequest) -> GalleryInfo:
    """Create an empty gallery bound to one model pack (checked to exist).

    Authorisation: a gallery admin or system admin. The name and description follow the rules
    of ``governance.fields``. Audit: ``gallery.create``, written with the gallery; any refusal
    (role, a name breaking the rules, a name taken) as ``gallery.create.refused``.
    """
    shown = shown_name(request.name)
    with action(ctx, actor, "gallery.create", shown, Permission.MANAGE_GALLERIES) as (session, _):
        name = fields.check_gallery_name(request.name)
        description = fields.check_free_text("description", request.description)
        pack = get_pack(request.pack or ctx.settings.default_pack, ctx.settings.home)
        if session.scalar(select(Gallery.id).where(Gallery.name == name)) is not None:
            raise GalleryExistsError("a gallery of this name exists", subject=name)
        staff_of = None
        if request.staff_of is not None:
            staff_of = session.scalar(select(Agency.id).where(Agency.name == request.staff_of))
            if staff_of is None:
                raise NotFoundError("no such agency", subject=request.staff_of)
        session.add(Gallery(name=name, pack=pack.name, description=description, staff_of=staff_of))
        _flush(session, GalleryExistsError("a gallery of this name exists", subject=name))
        details: dict[str, object] = {"pack": pack.name, "description": description}
        if request.staff_of is not None:
            details["staff_of"] = request.staff_of
        append(session, AuditEvent(actor.username, "gallery.create", name, details))
    return show_gallery(ctx, name)


def add_source(ctx: AppContext, actor: Principal, request: CreateSourceRequest) -> SourceInfo:
    """Record a lawful source of images for a gallery (what, legal basis, who, when, retention).

    Authorisation: a gallery admin or system admin. Names and texts follow the rules of
    ``governance.fields``. Audit: ``gallery.source.add`` with the source; any refusal as
    ``gallery.source.add.refused``.
    """
    subject = f"{shown_name(request.gallery)}/{shown_name(request.name)}"
    with action(ctx, actor, "gallery.source.add", subject, Permission.MANAGE_GALLERIES) as (
        session,
        _,
    ):
        name = fields.check_source_name(request.name)
        kind = fields.check_name("kind", request.kind)
        legal_basis = check_legal_basis(request.legal_basis)
        supplied_by = fields.check_name("supplied by", request.supplied_by)
        collected_at = check_collection_date(request.collected_at)
        retention_days = check_retention(request.retention_days)
        gallery = get_gallery_row(session, request.gallery)
        gallery_name = gallery.name
        taken = SourceExistsError("this gallery already has a source of this name", subject=name)
        if session.scalar(
            select(Source.id).where(Source.gallery_id == gallery.id, Source.name == name)
        ):
            raise taken
        session.add(
            Source(
                gallery_id=gallery.id,
                name=name,
                kind=kind,
                legal_basis=legal_basis,
                supplied_by=supplied_by,
                collected_at=collected_at,
                retention_days=retention_days,
            )
        )
        _flush(session, taken)
        append(
            session,
            AuditEvent(
                actor.username,
                "gallery.source.add",
                f"{gallery_name}/{name}",
                {
                    "kind": kind,
                    "legal_basis": legal_basis,
                    "supplied_by": supplied_by,
                    "collected_at": collected_at,
                    "retention_days": retention_days,
                },
            ),
        )
    return next(s for s in show_gallery(ctx, gallery_name).sources if s.name == name)


def shown_name(text: str) -> str:
    """A name as an audit subject even when it breaks the rules (control characters escaped,
    length capped), so a refusal can always be recorded."""
    return ascii(text)[1:-1][:200] if not text.isprintable() or len(text) > 200 else text


def _flush(session: Session, taken: FacetrailError) -> None:
    """Flush; a unique name taken by a concurrent action is the typed error, not a traceback."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise taken from exc


def get_gallery_row(session: Session, name: str) -> Gallery:
    gallery = session.scalar(select(Gallery).where(Gallery.name == name))
    if gallery is None:
        raise GalleryNotFoundError("no such gallery", subject=name)
    return gallery


def get_source_row(session: Session, gallery: Gallery, name: str) -> Source:
    source = session.scalar(
        select(Source).where(Source.gallery_id == gallery.id, Source.name == name)
    )
    if source is None:
        raise SourceNotFoundError(
            f"gallery {gallery.name!r} has no such source (create it with 'gallery add-source')",
            subject=name,
        )
    return source


def _count(session: Session, stmt: object) -> int:
    return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]


def show_gallery(ctx: AppContext, name: str) -> GalleryInfo:
    with ctx.sessions() as session:
        g = get_gallery_row(session, name)
        images = _count(session, select(func.count(Image.id)).where(Image.gallery_id == g.id))
        faces = _count(
            session, select(func.count(Face.id)).join(Image).where(Image.gallery_id == g.id)
        )
        templates = _count(
            session, select(func.count(TemplateRow.id)).where(TemplateRow.gallery_id == g.id)
        )
        failures = _count(
            session, select(func.count(IngestFailure.id)).where(IngestFailure.gallery_id == g.id)
        )
        per_source = dict(
            session.execute(
                select(Image.source_id, func.count(Image.id))
                .where(Image.gallery_id == g.id)
                .group_by(Image.source_id)
            ).all()
        )
        retired = {
            source_id: Retirement(at.isoformat(), by, reason)
            for source_id, at, by, reason in session.execute(
                select(
                    SourceRetirement.source_id,
                    SourceRetirement.retired_at,
                    User.username,
                    SourceRetirement.reason,
                )
                .join(User, User.id == SourceRetirement.retired_by)
                .join(Source, Source.id == SourceRetirement.source_id)
                .where(Source.gallery_id == g.id)
            )
        }
        sources = [
            SourceInfo(
                s.name,
                s.kind,
                s.legal_basis,
                s.supplied_by,
                s.collected_at,
                s.retention_days,
                int(per_source.get(s.id, 0)),
                retired.get(s.id),
            )
            for s in sorted(g.sources, key=lambda s: s.id)
        ]
        return GalleryInfo(
            g.name,
            g.pack,
            g.description,
            g.created_at.isoformat(),
            images,
            faces,
            templates,
            failures,
            sources,
            session.scalar(select(Agency.name).where(Agency.id == g.staff_of))
            if g.staff_of is not None
            else None,
        )


def list_galleries(ctx: AppContext) -> list[GalleryInfo]:
    with ctx.sessions() as session:
        names = session.scalars(select(Gallery.name).order_by(Gallery.name)).all()
    return [show_gallery(ctx, n) for n in names]
