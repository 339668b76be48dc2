"""The reviews that wait for the viewer, and a named colleague asked for a search's second
review: the hand-off between two reviewers, with no address passed from one to the other
(``services.searching.review_queue``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.searching import SecondReviewAsk
from facetrail.edge.deps import Context
from facetrail.services.searching import review_queue
from facetrail.web.deps import Form, Signed
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

SearchId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/reviews")
def waiting(request: Request, ctx: Context, me: Signed) -> Response:
    """The searches of the viewer's agency with candidates they may still review, second
    reviews first (``review_queue.review_queue``: investigators and supervisors; audited)."""
    asked = request.query_params.get("asked", "")
    return page(
        "reviews.html",
        viewer=me,
        current="/reviews",
        waiting=review_queue.review_queue(ctx, me.principal),
        asked=asked[:200] or None,
    )


@router.post("/searches/{search_id}/second-review")
def ask(search_id: SearchId, ctx: Context, me: Signed, form: Form) -> Response:
    """Ask a named colleague for the search's second review (``review_queue.ask_second_review``:
    a reviewer of the agency asks another one who has not reviewed it; audited)."""
    body = SecondReviewAsk.from_form(form)
    asked = review_queue.ask_second_review(ctx, me.principal, search_id, body.colleague)
    return RedirectResponse(f"/searches/{search_id}?asked={asked}#second-review", status_code=303)
