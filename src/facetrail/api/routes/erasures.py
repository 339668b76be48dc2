"""A person's rights over HTTP: erasure requests (opened with the person's photos, their
faces confirmed, completed with a signed receipt, or cancelled) and the retention run; the
services the CLI's ``erasure`` and ``retention`` commands call (gallery admins and system
admins; audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from facetrail.api.deps import Context, Me
from facetrail.api.uploads import probe_images
from facetrail.services import erasure, retention
from facetrail.services.erasure import ErasureView
from facetrail.services.retention import RetentionReport

router = APIRouter(tags=["erasure and retention"])

ErasureId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Decisions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirmed: Annotated[list[int], Field(max_length=10_000)] = []
    rejected: Annotated[list[int], Field(max_length=10_000)] = []


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=2000)]


@router.post(
    "/erasures",
    status_code=status.HTTP_201_CREATED,
    response_model=ErasureView,
    summary="Record a person's erasure request; their faces are found in every gallery",
)
def open_request(
    ctx: Context,
    me: Me,
    photos: Annotated[list[UploadFile], File(description="Photos of the person")],
    reference: Annotated[str, Form(max_length=200)],
    identity_check: Annotated[str, Form(max_length=5000)],
    consent: Annotated[bool, Form(description="keep an opt-out template")] = False,
) -> ErasureView:
    """The photos are not kept; with consent their templates are, until the request ends."""
    erasure.may_open(ctx, me, reference)
    images = probe_images(photos, ctx.settings.max_image_bytes)
    request = erasure.ErasureRequest(reference, identity_check, consent, images)
    return erasure.open_erasure(ctx, me, request)


@router.get("/erasures/{erasure_id}", response_model=ErasureView, summary="One request")
def show(erasure_id: ErasureId, ctx: Context, me: Me) -> ErasureView:
    return erasure.show_erasure(ctx, me, erasure_id)


@router.post(
    "/erasures/{erasure_id}/decisions", response_model=ErasureView, summary="Confirm or reject"
)
def decide(erasure_id: ErasureId, body: Decisions, ctx: Context, me: Me) -> ErasureView:
    return erasure.decide_matches(ctx, me, erasure_id, body.confirmed, body.rejected)


@router.post(
    "/erasures/{erasure_id}/completion",
    response_model=ErasureView,
    summary="Remove the confirmed faces and all that came from them; sign the receipt",
)
def complete(erasure_id: ErasureId, ctx: Context, me: Me) -> ErasureView:
    return erasure.complete_erasure(ctx, me, erasure_id)


@router.post("/erasures/{erasure_id}/cancellation", response_model=ErasureView, summary="Cancel")
def cancel(erasure_id: ErasureId, body: Reason, ctx: Context, me: Me) -> ErasureView:
    return erasure.cancel_erasure(ctx, me, erasure_id, body.reason)


@router.post(
    "/retention/run", response_model=RetentionReport, summary="Purge what has expired, now"
)
def run_retention(ctx: Context, me: Me) -> RetentionReport:
    """Idempotent; the service also runs it on a schedule."""
    return retention.retention_run(ctx, me)
