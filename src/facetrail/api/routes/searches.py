"""Searches (multipart probe upload; pending, approve, deny, run), stored results, candidate
images, reviews, outcomes, case disclosure and 1:1 verification: each a call to the same
service the CLI calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, File, Form, Path, Request, Response, UploadFile, status
from starlette.datastructures import FormData

from facetrail.api.pages import Cursor, Limit, page
from facetrail.edge import limits
from facetrail.edge.bodies import Body
from facetrail.edge.bodies.searching import (
    OutcomeBody,
    ReviewBody,
    SearchAsk,
    SearchDecision,
    SearchGrounds,
    SecondReviewAsk,
)
from facetrail.edge.deps import Acting, Context, Me
from facetrail.edge.uploads import probe_images
from facetrail.errors import InvalidRequestError
from facetrail.services.audit import verification
from facetrail.services.audit.verification import VerifyResult
from facetrail.services.context import AppContext
from facetrail.services.searching import (
    listings,
    probe_preview,
    results,
    review,
    review_queue,
    search,
)
from facetrail.services.searching.review import Disclosure, OutcomeInfo, ReviewInfo
from facetrail.services.searching.search_model import ProbeFace, ProbeImage, SearchResult

router = APIRouter(tags=["searches"])

SearchId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CandidateId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _multipart(request: Request) -> AsyncIterator[FormData]:
    """A search's multipart form, read whole: its fields go to one model (``from_form``, as the
    web app reads its form), its files to ``_probes``; closed once the answer is sent."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


Multipart = Annotated[FormData, Depends(_multipart)]


def _probes(ctx: AppContext, form: FormData) -> tuple[ProbeImage, ...]:
    """The form's probe files, read through the API's intake limits."""
    sent = form.getlist("probes")
    if any(isinstance(value, str) for value in sent):
        raise InvalidRequestError("probes are image files", subject="probes")
    # Starlette's UploadFile is what a parsed form holds; probe_images reads only the
    # attributes FastAPI's subclass shares with it.
    return probe_images(cast(list[UploadFile], sent), ctx.settings.max_image_bytes)


def _documented(model: type[Body]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a form read by hand: the model's fields beside the probes
    (FastAPI documents only the parameters it reads itself)."""
    fields = model.model_json_schema()
    fields.pop("additionalProperties", None)  # a form's own fields are not refused
    probes = {
        "type": "array",
        "items": {"type": "string", "contentMediaType": "application/octet-stream"},
        "description": "Probe image(s) of one person",
    }
    fields["properties"] = {"probes": probes, **fields["properties"]}
    fields["required"] = ["probes", *fields.get("required", [])]
    return {"required": True, "content": {"multipart/form-data": {"schema": fields}}}


@router.post(
    "/searches",
    status_code=status.HTTP_201_CREATED,
    response_model=SearchResult,
    summary="Search galleries for a case (now, or once a supervisor approves)",
    openapi_extra={"requestBody": _documented(SearchAsk)},
)
def new_search(request: Request, ctx: Context, caller: Acting, form: Multipart) -> SearchResult:
    """Policy is checked before any probe is decoded; every refusal has its own code and a
    ``search.refused`` entry. Candidates are investigative leads, never identifications."""
    asked = SearchAsk.from_form(form)
    me = caller.principal
    limits.check(request, ctx, "search", me.username, "search", first=caller.use)
    asking = asked.request(me, _probes(ctx, form))
    # The token's use is recorded in the search request's own transaction.
    return search.search(ctx, asking, include_crops=False, token_use=caller.use)


@router.post(
    "/searches/preview",
    response_model=list[ProbeFace],
    summary="The faces in the probe(s), to pick one, for a request policy allows",
    openapi_extra={"requestBody": _documented(SearchGrounds)},
)
def preview(request: Request, ctx: Context, me: Me, form: Multipart) -> list[ProbeFace]:
    """The same policy check as a search comes first; nothing is stored; audited as
    ``search.preview``. Send the chosen face's ``index`` as ``face`` with the search."""
    asked = SearchGrounds.from_form(form)
    limits.check(request, ctx, "search", me.username, "search.preview")
    return probe_preview.preview_faces(ctx, asked.request(me, _probes(ctx, form)))


@router.get("/searches/pending", summary="Searches awaiting your approval (supervisors)")
def pending(ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    """With the probes and the justification an approver needs to see (audited)."""
    return page(listings.approval_queue(ctx, me), lambda r: r.search_id, cursor, limit)


@router.get("/searches/{search_id:int}", response_model=SearchResult, summary="A stored search")
def show_search(search_id: SearchId, ctx: Context, me: Me) -> SearchResult:
    """Its state, candidates and the reviews this viewer may see (audited ``search.view``)."""
    return results.get_search(ctx, me, search_id, include_crops=False)


@router.post("/searches/{search_id}/decision", summary="Approve or deny a pending search")
def decide(search_id: SearchId, body: SearchDecision, ctx: Context, me: Me) -> dict[str, Any]:
    state = search.decide_search(ctx, me, search_id, body.approve, body.note)
    return {"search_id": search_id, "decision": state}


@router.post(
    "/searches/{search_id}/run",
    response_model=SearchResult,
    summary="Run an approved search that was interrupted",
)
def run(search_id: SearchId, ctx: Context, me: Me) -> SearchResult:
    return search.run_approved(ctx, me, search_id)


@router.get("/searches/{search_id}/export", summary="A stored search for the case file")
def export(search_id: SearchId, ctx: Context, me: Me) -> dict[str, Any]:
    return results.export_search(ctx, me, search_id)


@router.post(
    "/searches/{search_id}/outcome",
    response_model=OutcomeInfo,
    summary="Close a search as a lead or no lead",
)
def outcome(search_id: SearchId, body: OutcomeBody, ctx: Context, me: Me) -> OutcomeInfo:
    return review.record_outcome(ctx, me, search_id, body.outcome, body.note)


@router.get(
    "/candidates/{candidate_id}/crop",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="A candidate's face crop (JPEG; audited)",
)
def candidate_crop(candidate_id: CandidateId, ctx: Context, me: Me) -> Response:
    jpeg = results.candidate_crop(ctx, me, candidate_id)
    return Response(jpeg, media_type="image/jpeg")


@router.get(
    "/candidates/{candidate_id}/source",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    summary="The whole source image behind a candidate (audited)",
)
def candidate_source(candidate_id: CandidateId, ctx: Context, me: Me) -> Response:
    _name, data = results.candidate_image(ctx, me, candidate_id)
    # Served as a download, never rendered in place: the bytes are whatever the source held.
    headers = {"Content-Disposition": f'attachment; filename="candidate{candidate_id}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.post(
    "/candidates/{candidate_id}/reviews",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewInfo,
    summary="Review a candidate (blind to other reviewers' calls)",
)
def review_candidate(
    candidate_id: CandidateId, body: ReviewBody, ctx: Context, me: Me
) -> ReviewInfo:
    return review.review_candidate(ctx, me, candidate_id, body.decision, body.note)


@router.get("/reviews/waiting", summary="Searches with candidates waiting for your review")
def reviews_waiting(
    ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    """Second reviews first, counts only (never another reviewer's call); audited."""
    return page(review_queue.review_queue(ctx, me), lambda r: r.search_id, cursor, limit)


@router.post(
    "/searches/{search_id}/second-review-request",
    summary="Ask a named colleague for a search's second review",
)
def ask_second_review(
    search_id: SearchId, body: SecondReviewAsk, ctx: Context, me: Me
) -> dict[str, str]:
    """The colleague is told in their inbox, with the search's page; audited."""
    return {"asked": review_queue.ask_second_review(ctx, me, search_id, body.colleague)}


@router.get(
    "/cases/{case_number}/disclosure",
    response_model=Disclosure,
    summary="Everything a case's searches did, for disclosure",
)
def disclosure(
    case_number: Annotated[str, Path(max_length=200)], ctx: Context, me: Me
) -> Disclosure:
    return review.case_disclosure(ctx, me, case_number)


@router.post("/verify", response_model=VerifyResult, summary="1:1 comparison of two images")
def verify(
    ctx: Context,
    me: Me,
    a: Annotated[UploadFile, File()],
    b: Annotated[UploadFile, File()],
    pack: Annotated[str | None, Form(max_length=100)] = None,
) -> VerifyResult:
    first, second = probe_images([a, b], ctx.settings.max_image_bytes)
    return verification.verify(ctx, me, verification.VerifyRequest(first, second, pack))
