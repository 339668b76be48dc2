"""Galleries and their sources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status

from facetrail.api.pages import Cursor, Limit, page
from facetrail.edge.bodies.galleries import NewGallery, NewSource, RetireSource, SourceChanges
from facetrail.edge.deps import Context, Me
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import browse, indexing, sources
from facetrail.services.galleries.admin import GalleryInfo, SourceInfo
from facetrail.services.galleries.indexing import IndexReport
from facetrail.services.galleries.sources import SourceEdit

router = APIRouter(tags=["galleries"])

Name = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/galleries", summary="Every gallery with its size and sources")
def list_galleries(
    ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    del me  # any signed-in user may see what galleries exist (not what is in them)
    return page(galleries.list_galleries(ctx), lambda g: g.name, cursor, limit)


@router.get("/galleries/{name}", response_model=GalleryInfo, summary="One gallery")
def show_gallery(name: Name, ctx: Context, me: Me) -> GalleryInfo:
    del me
    return galleries.show_gallery(ctx, name)


@router.post(
    "/galleries",
    status_code=status.HTTP_201_CREATED,
    response_model=GalleryInfo,
    summary="Create a gallery (gallery admins)",
)
def create_gallery(body: NewGallery, ctx: Context, me: Me) -> GalleryInfo:
    request = galleries.CreateGalleryRequest(body.name, body.pack, body.description, body.staff_of)
    return galleries.create_gallery(ctx, me, request)


@router.post(
    "/galleries/{name}/sources",
    status_code=status.HTTP_201_CREATED,
    response_model=SourceInfo,
    summary="Add a source with its legal basis and retention (gallery admins)",
)
def add_source(name: Name, body: NewSource, ctx: Context, me: Me) -> SourceInfo:
    request = body.request(name)
    return galleries.add_source(ctx, me, request)


@router.get(
    "/galleries/{name}/photos",
    summary="A page of the gallery's photos with their provenance (gallery admins; audited)",
)
def photos(
    name: Name,
    ctx: Context,
    me: Me,
    source: Annotated[str | None, Query(max_length=200)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    order: Annotated[Literal["newest", "oldest", "name"], Query()] = "newest",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Each page is one ``gallery.browse`` entry naming the photos it listed (no thumbnails
    here: the web page shows them)."""
    request = browse.BrowseRequest(name, source, subject, order, offset, limit, thumbnails=False)
    return browse.as_listing(browse.browse_photos(ctx, me, request))


@router.patch(
    "/galleries/{name}/sources/{source}",
    response_model=SourceEdit,
    summary="Change what is recorded of a source, saying why (gallery admins)",
)
def edit_source(name: Name, source: Name, body: SourceChanges, ctx: Context, me: Me) -> SourceEdit:
    request = body.request(name, source)
    return sources.edit_source(ctx, me, request)


@router.post(
    "/galleries/{name}/sources/{source}/retire",
    response_model=SourceInfo,
    summary="Retire a source: nothing more is ingested into it (gallery admins)",
)
def retire_source(name: Name, source: Name, body: RetireSource, ctx: Context, me: Me) -> SourceInfo:
    return sources.retire_source(ctx, me, name, source, body.reason)


@router.post(
    "/galleries/{name}/index/rebuild",
    response_model=IndexReport,
    summary="Recreate the gallery's index from its stored templates (gallery admins)",
)
def rebuild_index(name: Name, ctx: Context, me: Me) -> IndexReport:
    return indexing.rebuild_index(ctx, me, name)


@router.post(
    "/galleries/{name}/index/check",
    response_model=IndexReport,
    summary="Compare the gallery's index with its stored templates and repair (gallery admins)",
)
def check_index(name: Name, ctx: Context, me: Me) -> IndexReport:
    """A POST: a difference found is repaired and logged (``index.mismatch``), and the check
    itself is an ``index.check`` entry."""
    return indexing.check_index_for(ctx, me, name)
