"""A supervisor's queue of searches awaiting approval, each with the justification they must
weigh, and the decision: the services the API's ``/searches/pending`` and ``decision`` and the
CLI's ``searches approve`` call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.searching import SearchDecision
from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError
from facetrail.services.context import AppContext
from facetrail.services.searching import listings, search
from facetrail.web.deps import Form, Signed, Viewer, text
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

SearchId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/approvals")
def queue(request: Request, ctx: Context, me: Signed) -> Response:
    """The pending searches of the viewer's agency (``listings.approval_queue``: supervisors
    only; audited)."""
    decided = None
    query = request.query_params
    if query.get("decided", "").isdigit() and query.get("as") in ("approved", "denied"):
        decided = {"search_id": int(query["decided"]), "decision": query["as"]}
    return _queue_page(ctx, me, decided=decided)


@router.post("/approvals/{search_id}")
def decide(search_id: SearchId, ctx: Context, me: Signed, form: Form) -> Response:
    """Approve (the search runs now) or deny, with a note the asker reads
    (``search.decide_search``: a supervisor of the agency, never the asker; audited). The
    decision is asked to be confirmed first, saying what it will do; a note too short for the
    service is sent back before that, with what was typed.

    The form is read as the API reads its decision (``SearchDecision``: ``approve`` true or
    false, and the note)."""
    body = SearchDecision.from_form(form)
    if (short := search.decision_note_problem(body.note)) is not None:
        typed = {"search_id": search_id, "note": body.note}
        return _queue_page(ctx, me, error=short, typed=typed)
    if text(form, "confirmed", max_length=10, default="") != "yes":
        return page(
            "approval_confirm.html",
            viewer=me,
            current="/approvals",
            search_id=search_id,
            approve=body.approve,
            note=body.note,
        )
    state = search.decide_search(ctx, me.principal, search_id, body.approve, body.note)
    return RedirectResponse(f"/approvals?decided={search_id}&as={state}", status_code=303)


def _queue_page(
    ctx: AppContext,
    me: Viewer,
    *,
    decided: dict[str, object] | None = None,
    error: FacetrailError | None = None,
    typed: dict[str, object] | None = None,
) -> Response:
    pending = listings.approval_queue(ctx, me.principal)
    return page(
        "approvals.html",
        viewer=me,
        current="/approvals",
        queue=pending,
        decided=decided,
        error=error,
        typed=typed or {},
        min_note=search.MIN_DECISION_NOTE,
    )
