"""Cases: the agency's cases found by number from every page, a case's page (every search,
review, outcome and disclosure of it), and its disclosure as a JSON file and a printable
document (PDF). Each a call to the service the API and CLI call."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Response

from facetrail.edge.deps import Context
from facetrail.services.searching import listings, review
from facetrail.services.searching.disclosure_document import disclosure_pdf
from facetrail.web.deps import Signed
from facetrail.web.render import attachment, page
from facetrail.web.result_view import DECISION_LABELS, OUTCOME_LABELS
from facetrail.web.routes.agency import STATUS_LABELS
from facetrail.web.routing import WebRoute

__all__ = ["router"]

router = APIRouter(route_class=WebRoute)

CaseNumber = Annotated[str, Query(min_length=1, max_length=200)]
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


@router.get("/cases")
def cases(
    ctx: Context, me: Signed, case: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    """With ``case``: the case's page, everything the agency's searches for it did
    (``review.case_disclosure``: the agency's supervisors, head and auditors, or an
    investigator who worked on the case; audited as ``case.disclose``, as the CLI's ``case
    show``). Without: the cases the viewer may open (``listings.list_cases``, audited)."""
    if case is None or not case.strip():
        found = listings.list_cases(ctx, me.principal)
        return page("cases.html", viewer=me, current="/cases", cases=found)
    made = review.case_disclosure(ctx, me.principal, case.strip())
    return page(
        "case.html",
        viewer=me,
        current="/cases",
        disclosure=made,
        states=STATUS_LABELS,
        decision_labels=DECISION_LABELS,
        outcome_labels=OUTCOME_LABELS,
    )


@router.get("/cases/disclosure")
def disclosure(ctx: Context, me: Signed, case: CaseNumber) -> Response:
    """Everything the agency's searches for a case did, as a JSON file for the case file
    (``review.case_disclosure``; audited as ``case.disclose``, refusals too)."""
    made = review.case_disclosure(ctx, me.principal, case)
    return _download(made.to_json().encode(), "application/json", case, "json")


@router.get("/cases/disclosure.pdf")
def disclosure_document(ctx: Context, me: Signed, case: CaseNumber) -> Response:
    """The same disclosure as a printable document (PDF) for prosecutors and defence
    (``review.case_disclosure``; audited as ``case.disclose``, refusals too)."""
    made = review.case_disclosure(ctx, me.principal, case)
    return _download(disclosure_pdf(made), "application/pdf", case, "pdf")


def _download(body: bytes, media_type: str, case: str, suffix: str) -> Response:
    name = _FILE_NAME_UNSAFE.sub("_", case)[:64]
    return attachment(body, media_type, f"disclosure-{name}.{suffix}")
