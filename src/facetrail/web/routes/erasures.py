"""Erasure under four eyes in the browser: the requests, a new one opened with the person's
photos (gallery admins), approved by the agency head or a privacy officer before any matching,
each face found confirmed or rejected beside the request photos, the decisions confirmed by
the second person and the signed receipt downloaded for the person; legal holds decided by the
agency head; and the retention run. The services the CLI's ``erasure`` and ``retention``
commands and the API's routes call."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Request, Response, UploadFile
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.datastructures import FormData

from facetrail.edge.bodies.oversight import (
    ErasureCancel,
    ErasureDecisions,
    ErasureNote,
    ErasureOpening,
    HoldDecision,
)
from facetrail.edge.deps import Context
from facetrail.edge.uploads import probe_images
from facetrail.errors import FacetrailError, InvalidRequestError
from facetrail.governance.authority import Permission, may, may_approve_erasure
from facetrail.services.rights import erasure, legal_holds, retention
from facetrail.web.deps import Form, Signed, files, text
from facetrail.web.listing import Column, Listing, listing
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

ErasureId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/erasures")
def erasures(request: Request, ctx: Context, me: Signed) -> Response:
    """Every request, and the form that opens one (``erasure.list_erasures``: gallery admins
    and system admins; audited)."""
    found = erasure.list_erasures(ctx, me.principal)
    ran = request.query_params.get("retention")
    return page(
        "erasures.html",
        viewer=me,
        current="/erasures",
        requests=_requests(request, found),
        retention=ran,
        form={},
        may_open=_opens(me),
    )


_REQUEST_COLUMNS: tuple[Column[Any], ...] = (
    Column("request", "Request", lambda r: r.id),
    Column("reference", "Reference", lambda r: r.reference),
    Column("state", "State", lambda r: r.status),
    Column("faces", "Faces found", lambda r: r.matches),
    Column("by", "By", lambda r: r.requested_by),
    Column("opened", "Opened", lambda r: r.created_at),
)


def _requests(request: Request, found: list[Any]) -> Listing[Any]:
    """The requests, newest first unless asked otherwise, filtered and paged."""
    return listing(
        request,
        found,
        _REQUEST_COLUMNS,
        text=lambda r: f"{r.id} {r.reference} {r.status} {r.requested_by}",
        sort="request",
        descending=True,
    )


def _opens(me: Signed) -> bool:
    """Whether to offer opening requests (the authority module's rule, as ``erasure.open``
    holds to it; the service decides; this only shapes the page)."""
    return may(me.actor, Permission.MANAGE_GALLERIES)


@router.post("/erasures")
def open_request(request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """Open a request with the person's photos (``erasure.open_erasure``; audited)."""
    try:
        opening = ErasureOpening.from_form(form)
        erasure.may_open(ctx, me.principal, opening.reference)
        photos = probe_images(
            cast(list[UploadFile], files(form, "photos")), ctx.settings.max_image_bytes
        )
        view = erasure.open_erasure(
            ctx,
            me.principal,
            erasure.ErasureRequest(
                opening.reference, opening.identity_check, opening.consent, photos
            ),
        )
    except FacetrailError as error:
        if error.code == "permission_denied":
            raise
        return page(
            "erasures.html",
            viewer=me,
            current="/erasures",
            requests=_requests(request, erasure.list_erasures(ctx, me.principal)),
            retention=None,
            form=form,  # as typed
            error=error,
            may_open=_opens(me),
        )
    return RedirectResponse(f"/erasures/{view.id}", status_code=303)


@router.get("/erasures/{erasure_id}")
def show(erasure_id: ErasureId, ctx: Context, me: Signed) -> Response:
    """One request: the faces found to decide, then the receipt (audited)."""
    view = erasure.show_erasure(ctx, me.principal, erasure_id)
    approves = may_approve_erasure(me.actor, view.opener_id, view.opener_agency_id)
    return page(
        "erasure.html",
        viewer=me,
        current="/erasures",
        view=view,
        may_decide=_opens(me),
        may_approve=approves,
    )


@router.post("/erasures/{erasure_id}")
def act(erasure_id: ErasureId, ctx: Context, me: Signed, form: Form) -> Response:
    """Record the decisions and complete, or cancel (each audited, refusals too)."""
    step = text(form, "step", max_length=20, default="")
    if step == "cancel":
        reason = ErasureCancel.from_form(form).reason
        erasure.cancel_erasure(ctx, me.principal, erasure_id, reason)
    elif step == "approve":
        note = ErasureNote.from_form(form).note
        erasure.approve_erasure(ctx, me.principal, erasure_id, note)
    elif step == "decide":
        # The service refuses an id that is not one of the request's.
        made = ErasureDecisions.from_form(form, **_calls(form))
        erasure.decide_matches(ctx, me.principal, erasure_id, made.confirmed, made.rejected)
    elif step == "complete":  # the second person's confirmation of the decisions
        view = erasure.show_erasure(ctx, me.principal, erasure_id)
        # Irreversible: say what happens, then ask again; but only of someone the service
        # could let complete it (anyone else is refused by it at once, and the refusal logged).
        may_complete = may_approve_erasure(me.actor, view.opener_id, view.opener_agency_id) and (
            view.decider_id != me.principal.user_id
        )
        if may_complete and form.get("confirmed") != "yes":
            return page(
                "erasure_confirm.html",
                viewer=me,
                current="/erasures",
                view=view,
                confirmed=[m for m in view.matches if m.decision == "confirmed"],
            )
        erasure.complete_erasure(ctx, me.principal, erasure_id)
    else:
        raise InvalidRequestError("choose approve, decide, complete or cancel", subject="step")
    return RedirectResponse(f"/erasures/{erasure_id}", status_code=303)


def _calls(form: FormData) -> dict[str, list[str]]:
    """The faces confirmed and rejected, by match id: each face's pair of radio buttons is a
    group of its own (named match-<id>), so the form cannot send the model's repeated fields
    itself."""
    calls: dict[str, list[str]] = {"confirmed": [], "rejected": []}
    for key, call in form.multi_items():
        if not key.startswith("match-"):
            continue
        if not isinstance(call, str) or call not in calls:
            raise InvalidRequestError("choose the person or not the person", subject=key)
        calls[call].append(key.removeprefix("match-"))
    return calls


@router.get("/erasures/{erasure_id}/photos/{number}")
def photo(
    erasure_id: ErasureId, number: Annotated[int, Path(ge=1, le=100)], ctx: Context, me: Signed
) -> Response:
    """A request photo, to compare the faces found with (audited)."""
    data = erasure.request_photo(ctx, me.principal, erasure_id, number)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/erasures/{erasure_id}/matches/{match_id}/crop")
def match_crop(
    erasure_id: ErasureId,
    match_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    ctx: Context,
    me: Signed,
) -> Response:
    """The face a match found, cut from its gallery image (audited)."""
    data = erasure.match_crop(ctx, me.principal, erasure_id, match_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/holds")
def holds(ctx: Context, me: Signed) -> Response:
    """The agency head's legal holds: images of open cases an erasure or retention would
    remove (audited)."""
    found = legal_holds.list_holds(ctx, me.principal)
    return page("holds.html", viewer=me, current="/holds", holds=found)


@router.post("/holds/{hold_id}")
def decide_hold(
    hold_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: Context, me: Signed, form: Form
) -> Response:
    """Release or keep a held image (the agency head; audited)."""
    step = text(form, "step", max_length=10, default="")
    if step not in ("release", "keep"):
        raise InvalidRequestError("choose release or keep", subject="step")
    decision = HoldDecision.from_form(form, release=step == "release")
    legal_holds.decide_hold(ctx, me.principal, hold_id, decision.release, decision.note)
    return RedirectResponse("/holds", status_code=303)


@router.get("/erasures/{erasure_id}/receipt")
def receipt(erasure_id: ErasureId, ctx: Context, me: Signed) -> Response:
    """The signed receipt, as the file the person keeps (audited as a view)."""
    view = erasure.show_erasure(ctx, me.principal, erasure_id)
    if view.receipt is None:
        raise InvalidRequestError("the request is not done: no receipt yet", subject="receipt")
    name = f"erasure-receipt-{view.id}.txt"
    return PlainTextResponse(
        view.receipt, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post("/retention")
def run_retention(ctx: Context, me: Signed, form: Form) -> Response:
    """Purge what has expired now (``retention.retention_run``; audited), once the person
    confirmed what it will remove (``retention.retention_due``)."""
    if form.get("confirmed") != "yes":
        due = retention.retention_due(ctx, me.principal)
        return page(
            "retention_confirm.html",
            viewer=me,
            current="/erasures",
            due=due,
            images=sum(d.images for d in due),
        )
    report = retention.retention_run(ctx, me.principal)
    images = sum(s.images for s in report.sources)
    return RedirectResponse(f"/erasures?retention={images}", status_code=303)


__all__ = ["router"]
