"""A gallery's photos, a page at a time, each with its provenance: for the gallery admins who
answer for what a gallery holds (where a photo came from, under what legal basis, who it is
recorded as, when it entered).

Authorisation: gallery admins and system admins. Audit: each page is one
``gallery.browse`` entry naming the photos it showed (their ids), its filter and its place;
a refusal as ``gallery.browse.refused``. Nothing here compares faces: no probe, no search.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

import cv2
from sqlalchemy import func, select

from facetrail.errors import InvalidRequestError
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.imaging.decode import decode_image
from facetrail.services.context import AppContext
from facetrail.services.galleries.admin import get_gallery_row, get_source_row
from facetrail.services.unit_of_work import action, refusals_recorded
from facetrail.store.schema import Image, Source

#: how the photos are ordered
Order = Literal["newest", "oldest", "name"]
ORDERS: dict[str, str] = {"newest": "newest first", "oldest": "oldest first", "name": "by name"}
#: the most photos a page shows
MAX_PAGE = 100
#: the longer side of a thumbnail, in pixels
THUMBNAIL_PX = 160


@dataclass(frozen=True)
class BrowseRequest:
    gallery: str
    #: only this source's photos (None: every source's)
    source: str | None = None
    #: only photos whose recorded subject reference contains this text (None: any)
    subject: str | None = None
    order: Order = "newest"
    offset: int = 0
    limit: int = 24
    #: make each photo's thumbnail (the web page shows them; a listing needs none)
    thumbnails: bool = True


@dataclass(frozen=True)
class GalleryPhoto:
    id: int
    name: str
    #: who the photo is recorded as (the ingest manifest's subject reference), if anyone
    subject_ref: str | None
    source: str
    legal_basis: str
    collected_at: str
    width: int
    height: int
    faces: int
    ingested_at: datetime
    #: a JPEG no larger than ``THUMBNAIL_PX`` on its longer side (empty when not asked for)
    thumbnail: bytes


@dataclass(frozen=True)
class PhotoPage:
    gallery: str
    photos: list[GalleryPhoto]
    #: the photos that match the filter, on every page
    total: int
    offset: int
    limit: int
    source: str | None
    subject: str | None
    order: Order


def browse_photos(ctx: AppContext, actor: Principal, request: BrowseRequest) -> PhotoPage:
    """One page of a gallery's photos with their provenance (see the module's text)."""
    subject = request.gallery[:200]
    details: dict[str, object] = {
        "source": request.source,
        "order": request.order,
        "offset": request.offset,
    }
    with action(ctx, actor, "gallery.browse", subject, Permission.MANAGE_GALLERIES, details) as (
        session,
        _,
    ):
        if request.order not in ORDERS:
            raise InvalidRequestError(f"order is one of {', '.join(ORDERS)}", subject="order")
        if not 1 <= request.limit <= MAX_PAGE or request.offset < 0:
            raise InvalidRequestError(
                f"a page shows 1 to {MAX_PAGE} photos from a place of 0 or more",
                subject="page",
            )
        gallery = get_gallery_row(session, request.gallery)
        kept = [Image.gallery_id == gallery.id]
        if request.source is not None:
            kept.append(Image.source_id == get_source_row(session, gallery, request.source).id)
        text = None
        if request.subject is not None and request.subject.strip():
            text = fields.check_name("subject", request.subject.strip())
            kept.append(Image.subject_ref.contains(text, autoescape=True))
        total = int(session.scalar(select(func.count(Image.id)).where(*kept)) or 0)
        order = {
            "newest": (Image.id.desc(),),
            "oldest": (Image.id.asc(),),
            "name": (Image.original_name.asc(), Image.id.asc()),
        }[request.order]
        rows = session.execute(
            select(Image, Source)
            .join(Source, Source.id == Image.source_id)
            .where(*kept)
            .order_by(*order)
            .offset(request.offset)
            .limit(request.limit)
        ).all()
        shown = [image.id for image, _ in rows]
        append(
            session,
            AuditEvent(
                actor.username,
                "gallery.browse",
                gallery.name,
                {**details, "subject": text, "total": total, "images": shown},
            ),
        )
        photos = [
            GalleryPhoto(
                image.id,
                image.original_name,
                image.subject_ref,
                source.name,
                source.legal_basis,
                source.collected_at,
                image.width,
                image.height,
                image.face_count,
                image.created_at,
                b"",
            )
            for image, source in rows
        ]
        hashes = [image.sha256 for image, _ in rows]
        gallery_name = gallery.name
    if request.thumbnails:  # read from the blobs after the entry is committed
        with refusals_recorded(ctx, actor.username, "gallery.browse", subject):
            photos = [
                replace(p, thumbnail=_thumbnail(ctx, sha))
                for p, sha in zip(photos, hashes, strict=True)
            ]
    return PhotoPage(
        gallery_name,
        photos,
        total,
        request.offset,
        request.limit,
        request.source,
        text,
        request.order,
    )


def _thumbnail(ctx: AppContext, sha256: str) -> bytes:
    """The photo made small, as JPEG. A stored file missing or replaced behind facetrail's
    back refuses the page (recorded), as it refuses a search's crop."""
    image = decode_image(ctx.blobs.get(sha256), name=sha256, limits=ctx.limits).bgr
    h, w = image.shape[:2]
    scale = min(1.0, THUMBNAIL_PX / max(h, w))
    small = cv2.resize(
        image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA
    )
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return bytes(buf) if ok else b""


def as_listing(found: PhotoPage) -> dict[str, Any]:
    """The page as the API and ``--json`` give it: every field but the thumbnails, times in
    ISO 8601."""
    photos = [
        {k: v for k, v in asdict(p).items() if k != "thumbnail"}
        | {"ingested_at": p.ingested_at.isoformat()}
        for p in found.photos
    ]
    return {**{k: v for k, v in asdict(found).items() if k != "photos"}, "photos": photos}
