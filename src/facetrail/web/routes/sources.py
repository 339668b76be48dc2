"""One source of a gallery in the browser: its provenance, corrected with a reason (keeping
photos longer asks for confirmation first) or the source retired (after a confirmation that
says what it does). Each form calls the service the API and CLI call (``galleries.sources``),
which decides and audits."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.galleries import RetireSource, SourceChanges
from facetrail.edge.deps import Context
from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    PermissionDeniedError,
    SourceNotFoundError,
)
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import sources
from facetrail.web.deps import Form, Signed, Viewer
from facetrail.web.render import page
from facetrail.web.routes.galleries import (
    Name,
    SourceForm,
    gallery_href,
    manages,
    source_href,
    typed,
)
from facetrail.web.routing import WebRoute

__all__ = ["router"]

router = APIRouter(route_class=WebRoute)


def _source_of(ctx: Context, gallery: str, source: str) -> galleries.SourceInfo:
    info = galleries.show_gallery(ctx, gallery)
    for s in info.sources:
        if s.name == source:
            return s
    raise SourceNotFoundError(f"gallery {gallery!r} has no such source", subject=source)


def _source_page(
    ctx: Context,
    me: Viewer,
    gallery: str,
    source: str,
    *,
    values: SourceForm | None = None,
    reason: str = "",
    retire_reason: str = "",
    error: FacetrailError | None = None,
    error_form: str | None = None,
) -> Response:
    """One source with its provenance and, for gallery admins, the forms that change it and
    retire it."""
    info = _source_of(ctx, gallery, source)
    if not manages(me):
        raise PermissionDeniedError(
            "gallery admins and system admins change sources", subject=source
        )
    shown = values or SourceForm(
        info.name,
        info.kind,
        info.legal_basis,
        info.supplied_by,
        info.collected_at,
        str(info.retention_days),
    )
    return page(
        "source.html",
        viewer=me,
        current="/galleries",
        gallery=gallery,
        gallery_href=gallery_href(gallery),
        href=source_href(gallery, source),
        source=info,
        values=shown,
        reason=reason,
        retire_reason=retire_reason,
        error=error,
        error_form=error_form,
    )


@router.get("/galleries/{name}/sources/{source}")
def source_page(name: Name, source: Name, ctx: Context, me: Signed) -> Response:
    return _source_page(ctx, me, name, source)


def _confirm(
    me: Viewer,
    gallery: str,
    current: galleries.SourceInfo,
    reason: str,
    *,
    values: SourceForm | None = None,
) -> Response:
    """The page that asks again before a loosening (``values``: the edit that keeps photos
    longer) or irreversible (no ``values``: retiring) step, saying what it will do; a reason
    the service would refuse is said on the form instead, before anything is asked."""
    if (problem := sources.reason_problem(reason)) is not None:
        raise InvalidRequestError(problem, subject="reason")
    return page(
        "source_confirm.html",
        viewer=me,
        current="/galleries",
        href=source_href(gallery, current.name),
        gallery=gallery,
        source=current,
        values=values,
        reason=reason,
        retire=values is None,
    )


@router.post("/galleries/{name}/sources/{source}")
def edit_source(name: Name, source: Name, ctx: Context, me: Signed, form: Form) -> Response:
    """Changes what is recorded of a source (``galleries.edit_source``: gallery admins and
    system admins; audited). Keeping photos longer loosens what was recorded: that asks for
    confirmation first, saying what will happen."""
    values = SourceForm.of(form)
    reason = typed(form, "reason")
    try:
        # Every field comes prefilled with what is recorded: the service changes those that
        # differ, and one left blank is not given, so it stays as it is.
        body = SourceChanges.from_form(form)
        current = _source_of(ctx, name, source)
        longer = body.retention_days is not None and body.retention_days > current.retention_days
        if longer and form.get("confirmed") != "yes":
            return _confirm(me, name, current, body.reason, values=values)
        request = body.request(name, source)
        sources.edit_source(ctx, me.principal, request)
    except PermissionDeniedError:
        raise
    except FacetrailError as error:
        return _source_page(
            ctx, me, name, source, values=values, reason=reason, error=error, error_form="edit"
        )
    return RedirectResponse(f"{gallery_href(name)}?changed={quote(source, safe='')}#sources", 303)


@router.post("/galleries/{name}/sources/{source}/retire")
def retire_source(name: Name, source: Name, ctx: Context, me: Signed, form: Form) -> Response:
    """Retires a source after a confirmation that says what it does (``galleries.retire_source``:
    gallery admins and system admins; audited)."""
    reason = typed(form, "reason")
    try:
        body = RetireSource.from_form(form)
        if form.get("confirmed") != "yes":
            return _confirm(me, name, _source_of(ctx, name, source), body.reason)
        sources.retire_source(ctx, me.principal, name, source, body.reason)
    except PermissionDeniedError:
        raise
    except FacetrailError as error:
        return _source_page(
            ctx, me, name, source, retire_reason=reason, error=error, error_form="retire"
        )
    return RedirectResponse(f"{gallery_href(name)}?retired={quote(source, safe='')}#sources", 303)
