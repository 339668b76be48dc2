"""Searches (multipart probe upload; pending, approve, deny, run), stored results, candidate
images, reviews, outcomes, case disclosure and 1:1 verification: each a call to the same
service the CLI calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, Response, UploadFile, status

from facetrail.api.pages import Cursor, Limit, page
from facetrail.edge import limits
from facetrail.edge.bodies.searching import (
    OutcomeBody,
    ReviewBody,
    SearchDecision,
    SecondReviewAsk,
)
from facetrail.edge.deps import Acting, Context, Me
from facetrail.edge.uploads import probe_images
from facetrail.governance.credentials import Principal
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
from facetrail.services.searching.search_model import ProbeFace, SearchResult

router = APIRouter(tags=["searches"])

SearchId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CandidateId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Text = Annotated[str, Form(max_length=5000)]


@dataclass(frozen=True)
class SearchForm:
    """What a search and its preview are both sent (multipart): the probes, unread, and why."""

    probes: list[UploadFile]
    case_number: str
    offense: str
    justification: str
    galleries: list[str]
    on_behalf_of: str | None

    def request(self, ctx: AppContext, me: Principal, **rest: Any) -> search.SearchRequest:
        """The service's request, the probes read through the API's intake limits."""
        return search.SearchRequest(
            requester=me,
            case_number=self.case_number,
            offense=self.offense,
            justification=self.justification,
            galleries=tuple(self.galleries),
            probes=probe_images(self.probes, ctx.settings.max_image_bytes),
            on_behalf_of=self.on_behalf_of,
            **rest,
        )


async def _search_form(
    probes: Annotated[list[UploadFile], File(description="Probe image(s) of one person")],
    case_number: Text,
    offense: Text,
    justification: Text,
    galleries: Annotated[list[str], Form(description="Galleries to search")],
    on_behalf_of: Annotated[str | None, Form(max_length=200)] = None,
) -> SearchForm:
    return SearchForm(probes, case_number, offense, justification, galleries, on_behalf_of)


Asked = Annotated[SearchForm, Depends(_search_form)]


@router.post(
    "/searches",
    status_code=status.HTTP_201_CREATED,
    response_model=SearchResult,
    summary="Search galleries for a case (now, or once a supervisor approves)",
)
def new_search(
    request: Request,
    ctx: Context,
    caller: Acting,
    asked: Asked,
    top: Annotated[int, Form(ge=1, le=500)] = 50,
    face: Annotated[int | None, Form(ge=0, le=1000)] = None,
) -> SearchResult:
    """Policy is checked before any probe is decoded; every refusal has its own code and a
    ``search.refused`` entry. Candidates are investigative leads, never identifications."""
    me = caller.principal
    limits.check(request, ctx, "search", me.username, "search", first=caller.use)
    asking = asked.request(ctx, me, top=top, face=face)
    # The token's use is recorded in the search request's own transaction.
    return search.search(ctx, asking, include_crops=False, token_use=caller.use)


@router.post(
    "/searches/preview",
    response_model=list[ProbeFace],
    summary="The faces in the probe(s), to pick one, for a request policy allows",
)
def preview(request: Request, ctx: Context, me: Me, asked: Asked) -> list[ProbeFace]:
    """The same policy check as a search comes first; nothing is stored; audited as
    ``search.preview``. Send the chosen face's ``index`` as ``face`` with the search."""
    limits.check(request, ctx, "search", me.username, "search.preview")
    return probe_preview.preview_faces(ctx, asked.request(ctx, me))


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
