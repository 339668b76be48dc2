"""Galleries for gallery admins: every gallery with its size, one gallery with its lawful
sources (legal basis, retention), creating a gallery, adding a source, and ingesting a folder
of the server in the background; the services the API's ``/galleries`` and ``ingestions``
routes and the CLI's ``gallery`` commands call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from facetrail.edge.bodies.galleries import Ingestion, NewGallery, NewSource
from facetrail.edge.deps import Context
from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    PermissionDeniedError,
)
from facetrail.governance.authority import Permission, may
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import browse, indexing, jobs
from facetrail.services.galleries.indexing import DAMAGE_WORDS
from facetrail.web.deps import Form, Signed, Viewer, text
from facetrail.web.listing import Column, listing
from facetrail.web.render import page
from facetrail.web.result_view import data_url
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

Name = Annotated[str, Path(min_length=1, max_length=200)]
#: photos on one page of a gallery's photos
PHOTOS_PER_PAGE = 24


def typed(form: FormData, name: str) -> str:
    """A field as it was typed, to show it again on a refused form ("" for a file or nothing);
    what the service is given is read from the action's model (``edge.bodies``)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class GalleryForm:
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class SourceForm:
    """A source's fields as typed (or as recorded), for its forms."""

    name: str = ""
    kind: str = ""
    legal_basis: str = ""
    supplied_by: str = ""
    collected_at: str = ""
    retention_days: str = "3650"

    @classmethod
    def of(cls, form: FormData) -> SourceForm:
        return cls(*(typed(form, f) for f in cls.__dataclass_fields__))


@dataclass(frozen=True)
class IngestForm:
    source: str = ""
    path: str = ""


def manages(me: Viewer) -> bool:
    """Whether to offer the forms (the authority module's rule; the service decides whether
    they are accepted)."""
    return may(me.actor, Permission.MANAGE_GALLERIES)


def source_href(gallery: str, source: str) -> str:
    return f"{gallery_href(gallery)}/sources/{quote(source, safe='')}"


def gallery_href(name: str) -> str:
    return f"/galleries/{quote(name, safe='')}"


@router.get("/galleries")
def gallery_list(request: Request, ctx: Context, me: Signed) -> Response:
    return _list_page(request, ctx, me, GalleryForm())


_GALLERY_COLUMNS: tuple[Column[galleries.GalleryInfo], ...] = (
    Column("name", "Gallery", lambda g: g.name),
    Column("pack", "Model pack", lambda g: g.pack),
    Column("photos", "Photos", lambda g: g.images),
    Column("faces", "Faces", lambda g: g.faces),
    Column("failed", "Failed files", lambda g: g.failures),
)


def _list_page(
    request: Request,
    ctx: Context,
    me: Viewer,
    values: GalleryForm,
    error: FacetrailError | None = None,
) -> Response:
    """Every gallery with its size and sources (``galleries.list_galleries``: what galleries
    exist is not secret, what is in them is)."""
    return page(
        "galleries.html",
        viewer=me,
        current="/galleries",
        galleries=listing(
            request,
            galleries.list_galleries(ctx),
            _GALLERY_COLUMNS,
            text=lambda g: " ".join((g.name, g.description, *(s.name for s in g.sources))),
            sort="name",
        ),
        manages=manages(me),
        values=values,
        href=gallery_href,
        error=error,
    )


@router.post("/galleries")
def create(request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """A new, empty gallery on the default model pack (``galleries.create_gallery``: gallery
    admins and system admins; audited, refusals too)."""
    values = GalleryForm(typed(form, "name"), typed(form, "description"))
    try:
        body = NewGallery.from_form(form)
        asked = galleries.CreateGalleryRequest(
            body.name, body.pack, body.description, body.staff_of
        )
        made = galleries.create_gallery(ctx, me.principal, asked)
    except PermissionDeniedError:
        raise  # not theirs to do: the refusal page, not the form again
    except FacetrailError as error:
        return _list_page(request, ctx, me, values, error)
    return RedirectResponse(f"{gallery_href(made.name)}?created=1", status_code=303)


def _gallery_page(
    request: Request,
    ctx: Context,
    me: Viewer,
    name: str,
    *,
    source: SourceForm | None = None,
    ingest: IngestForm | None = None,
    error: FacetrailError | None = None,
    error_form: str | None = None,
) -> Response:
    """One gallery with its sources (``galleries.show_gallery``) and, for its admins, the
    forms that add a source and ingest a folder."""
    info = galleries.show_gallery(ctx, name)
    query = request.query_params
    message = None
    if query.get("created"):
        message = f"Gallery {info.name} created. Add a source before ingesting photos into it."
    elif query.get("added"):
        message = f"Source {query['added'][:200]} added."
    elif query.get("index") in ("checked", "rebuilt"):
        entries, repaired = query.get("entries", "?")[:12], query.get("repaired", "0")[:12]
        damage = DAMAGE_WORDS.get(query.get("damage", ""), "")
        if query["index"] == "rebuilt":
            message = f"The index was rebuilt from the database: {entries} entries."
        elif repaired != "0" or damage:
            message = (
                f"The index was checked and repaired ({damage or f'{repaired} entries differed'}): "
                f"{entries} entries now. The repair is in the audit log."
            )
        else:
            message = f"The index was checked: its {entries} entries agree with the database."
    elif query.get("changed"):
        message = f"Source {query['changed'][:200]} changed. The change is in the audit log."
    elif query.get("retired"):
        message = (
            f"Source {query['retired'][:200]} retired: nothing more is ingested into it, "
            "its photos stay."
        )
    return page(
        "gallery.html",
        viewer=me,
        current="/galleries",
        gallery=info,
        href=gallery_href(info.name),
        source_href=lambda s: source_href(info.name, s),
        manages=manages(me),
        source=source or SourceForm(),
        ingest=ingest or IngestForm(),
        message=message,
        error=error,
        error_form=error_form,
    )


@router.get("/galleries/{name}")
def show(name: Name, request: Request, ctx: Context, me: Signed) -> Response:
    return _gallery_page(request, ctx, me, name)


@router.post("/galleries/{name}/sources")
def add_source(name: Name, request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """Records a lawful source: what, its legal basis, who supplied it, when, and how long it
    is kept (``galleries.add_source``: gallery admins and system admins; audited)."""
    values = SourceForm.of(form)
    try:
        body = NewSource.from_form(form)
        asked = body.request(name)
        added = galleries.add_source(ctx, me.principal, asked)
    except PermissionDeniedError:
        raise
    except FacetrailError as error:
        return _gallery_page(
            request, ctx, me, name, source=values, error=error, error_form="source"
        )
    to = f"{gallery_href(name)}?added={quote(added.name, safe='')}#sources"
    return RedirectResponse(to, status_code=303)


@router.get("/galleries/{name}/photos")
def photos(
    name: Name,
    ctx: Context,
    me: Signed,
    source: Annotated[str, Query(max_length=200)] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
    order: Annotated[str, Query(max_length=20)] = "newest",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> Response:
    """A page of the gallery's photos with their provenance, filtered by source and subject
    reference, in the order asked (``browse.browse_photos``: gallery admins and system admins;
    each page is one audited look naming the photos it showed)."""
    request = browse.BrowseRequest(
        name,
        source or None,
        subject or None,
        order if order in browse.ORDERS else "newest",  # type: ignore[arg-type]
        (page_number - 1) * PHOTOS_PER_PAGE,
        PHOTOS_PER_PAGE,
    )
    shown = browse.browse_photos(ctx, me.principal, request)
    info = galleries.show_gallery(ctx, name)
    pages = max(1, -(-shown.total // PHOTOS_PER_PAGE))
    base = {"source": source, "subject": subject, "order": request.order}
    kept = {k: v for k, v in base.items() if v and not (k == "order" and v == "newest")}

    def href(number: int) -> str:
        query = urlencode({**kept, **({"page": number} if number > 1 else {})})
        return f"{gallery_href(name)}/photos" + (f"?{query}" if query else "")

    links = {}
    if page_number > 1:
        links["Previous page"] = href(min(page_number - 1, pages))
    if page_number < pages:
        links["Next page"] = href(page_number + 1)
    return page(
        "gallery_photos.html",
        viewer=me,
        current="/galleries",
        gallery=info,
        gallery_href=gallery_href(name),
        shown=shown,
        photos=[(p, data_url(p.thumbnail)) for p in shown.photos],
        filters=base,
        orders=browse.ORDERS,
        page_number=page_number,
        pages=pages,
        links=links,
    )


@router.post("/galleries/{name}/index")
def index(name: Name, ctx: Context, me: Signed, form: Form) -> Response:
    """Checks the gallery's index against the templates in the database and repairs any
    difference, or rebuilds it from them (``indexing.check_index_for`` /
    ``indexing.rebuild_index``: gallery admins and system admins; audited, refusals too)."""
    step = text(form, "step", max_length=10, default="")
    if step not in ("check", "rebuild"):
        raise InvalidRequestError("choose check or rebuild", subject="step")
    if step == "check":
        report = indexing.check_index_for(ctx, me.principal, name)
    else:
        report = indexing.rebuild_index(ctx, me.principal, name)
    said = {
        "index": "rebuilt" if report.rebuilt else "checked",
        "entries": report.entries,
        "repaired": report.added + report.removed + report.disagreed,
        "damage": report.damage or "",
    }
    return RedirectResponse(f"{gallery_href(name)}?{urlencode(said)}#index", status_code=303)


@router.post("/galleries/{name}/ingestions")
def ingest(name: Name, request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """Queues the ingestion of a folder on the server into one of the gallery's sources
    (``jobs.submit_ingest``: gallery admins and system admins; audited); its page shows the
    progress."""
    values = IngestForm(typed(form, "source"), typed(form, "path"))
    try:
        body = Ingestion.from_form(form)
        # A pasted path often carries a space or line break at its ends; no folder meant one.
        asked = jobs.IngestJobRequest(name, body.source, body.path.strip(), body.manifest)
        job = jobs.submit_ingest(ctx, me.principal, asked)
    except PermissionDeniedError:
        raise
    except FacetrailError as error:
        return _gallery_page(
            request, ctx, me, name, ingest=values, error=error, error_form="ingest"
        )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


__all__ = ["SourceForm", "gallery_href", "manages", "router", "source_href", "typed"]
