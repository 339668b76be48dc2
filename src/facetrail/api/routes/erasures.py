"""A person's rights over HTTP: erasure requests (opened with the person's photos by a gallery
admin, approved by the opener's agency head or a privacy officer before any matching, their
faces confirmed beside the request photos, completed by that second person with a signed
receipt, or cancelled), legal holds on images of open cases (the agency head decides) and the
retention run; the services the CLI's ``erasure`` and ``retention`` commands call (audited)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Request, Response, UploadFile, status
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as Upload

from facetrail.edge.bodies import Body
from facetrail.edge.bodies.oversight import (
    ErasureCancel,
    ErasureDecisions,
    ErasureNote,
    ErasureOpening,
    HoldDecision,
)
from facetrail.edge.deps import Context, Me
from facetrail.edge.uploads import probe_images
from facetrail.services.rights import erasure, legal_holds, retention
from facetrail.services.rights.erasure import ErasureView
from facetrail.services.rights.legal_holds import HoldView
from facetrail.services.rights.retention import RetentionReport

router = APIRouter(tags=["erasure and retention"])

ErasureId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _multipart(request: Request) -> AsyncIterator[FormData]:
    """The posted multipart form, closed after the answer. The route declares no body to
    FastAPI: its fields are read by their model (``Body.from_form``, as the web app reads
    them) and its files beside them; ``_documented`` shows both in the OpenAPI."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


def _documented(fields: type[Body], **files: str) -> dict[str, Any]:
    """The operation's multipart body as OpenAPI shows it: the model's fields and the files
    (name: description) sent beside them."""
    schema = fields.model_json_schema()
    schema.pop("additionalProperties", None)  # the files travel beside the fields
    for name, description in files.items():
        schema["properties"][name] = {
            "type": "array",
            "items": {"type": "string", "contentMediaType": "application/octet-stream"},
            "description": description,
        }
    schema["required"] = [*files, *schema.get("required", ())]
    body = {"multipart/form-data": {"schema": schema}}
    return {"requestBody": {"required": True, "content": body}}


@router.post(
    "/erasures",
    status_code=status.HTTP_201_CREATED,
    response_model=ErasureView,
    summary="Record a person's erasure request; it waits for a second person's approval",
    openapi_extra=_documented(ErasureOpening, photos="Photos of the person"),
)
def open_request(
    ctx: Context, me: Me, form: Annotated[FormData, Depends(_multipart)]
) -> ErasureView:
    """The photos are kept until the request ends; no gallery is searched until the opener's
    agency head or a privacy officer approves it."""
    opening = ErasureOpening.from_form(form)
    erasure.may_open(ctx, me, opening.reference)
    photos = [f for f in form.getlist("photos") if isinstance(f, Upload)]
    images = probe_images(cast(list[UploadFile], photos), ctx.settings.max_image_bytes)
    request = erasure.ErasureRequest(
        opening.reference, opening.identity_check, opening.consent, images
    )
    return erasure.open_erasure(ctx, me, request)


@router.post(
    "/erasures/{erasure_id}/approval",
    response_model=ErasureView,
    summary="Let the matching run (the opener's agency head or a privacy officer)",
)
def approve(erasure_id: ErasureId, body: ErasureNote, ctx: Context, me: Me) -> ErasureView:
    return erasure.approve_erasure(ctx, me, erasure_id, body.note)


_JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}


@router.get(
    "/erasures/{erasure_id}/photos/{number}",
    response_class=Response,
    responses=_JPEG,
    summary="A request photo, while the request runs",
)
def photo(
    erasure_id: ErasureId, number: Annotated[int, Path(ge=1, le=100)], ctx: Context, me: Me
) -> Response:
    return Response(erasure.request_photo(ctx, me, erasure_id, number), media_type="image/jpeg")


@router.get(
    "/erasures/{erasure_id}/matches/{match_id}/crop",
    response_class=Response,
    responses=_JPEG,
    summary="The face a match found, to decide beside the request photos",
)
def match_crop(
    erasure_id: ErasureId,
    match_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    ctx: Context,
    me: Me,
) -> Response:
    return Response(erasure.match_crop(ctx, me, erasure_id, match_id), media_type="image/jpeg")


@router.get("/holds", response_model=list[HoldView], summary="Your agency's legal holds")
def holds(ctx: Context, me: Me) -> list[HoldView]:
    return legal_holds.list_holds(ctx, me)


@router.post(
    "/holds/{hold_id}/decision",
    response_model=HoldView,
    summary="Release or keep an image held for open cases (the agency head)",
)
def decide_hold(
    hold_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: HoldDecision, ctx: Context, me: Me
) -> HoldView:
    return legal_holds.decide_hold(ctx, me, hold_id, body.release, body.note)


@router.get("/erasures/{erasure_id}", response_model=ErasureView, summary="One request")
def show(erasure_id: ErasureId, ctx: Context, me: Me) -> ErasureView:
    return erasure.show_erasure(ctx, me, erasure_id)


@router.post(
    "/erasures/{erasure_id}/decisions", response_model=ErasureView, summary="Confirm or reject"
)
def decide(erasure_id: ErasureId, body: ErasureDecisions, ctx: Context, me: Me) -> ErasureView:
    return erasure.decide_matches(ctx, me, erasure_id, body.confirmed, body.rejected)


@router.post(
    "/erasures/{erasure_id}/completion",
    response_model=ErasureView,
    summary="Confirm the decisions (a second person): remove the confirmed faces; sign",
)
def complete(erasure_id: ErasureId, ctx: Context, me: Me) -> ErasureView:
    return erasure.complete_erasure(ctx, me, erasure_id)


@router.post("/erasures/{erasure_id}/cancellation", response_model=ErasureView, summary="Cancel")
def cancel(erasure_id: ErasureId, body: ErasureCancel, ctx: Context, me: Me) -> ErasureView:
    return erasure.cancel_erasure(ctx, me, erasure_id, body.reason)


@router.post(
    "/retention/run", response_model=RetentionReport, summary="Purge what has expired, now"
)
def run_retention(ctx: Context, me: Me) -> RetentionReport:
    """Idempotent; the service also runs it on a schedule."""
    return retention.retention_run(ctx, me)
