"""An agency overseen: its people with their status and roles, and all of its searches found
by case, status and date; the services the CLI's ``accounts list`` and ``searches list``
call (``directory.list_accounts``, ``listings.find_searches``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError
from facetrail.governance.credentials import Role
from facetrail.services.accounts import account_approval, directory
from facetrail.services.searching import listings
from facetrail.web.deps import Signed, Viewer
from facetrail.web.listing import Column, listing
from facetrail.web.render import FormError, page
from facetrail.web.routes.people import ROLE_LABELS, grantable
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

Username = Annotated[str, Path(min_length=1, max_length=100)]

#: Searches on one page of the agency's list.
SEARCH_PAGE = 100
#: store.vocabulary.SEARCH_STATUSES, in words
STATUS_LABELS = {
    "pending": "Waiting for approval",
    "approved": "Approved, running",
    "denied": "Denied",
    "failed": "Failed",
    "done": "Done",
}


@router.get("/agency/people")
def people(request: Request, ctx: Context, me: Signed) -> Response:
    """The people of the viewer's agency (a system admin: everyone) with their status and
    roles, requested accounts first (``directory.list_accounts``: the agency's head,
    supervisors and auditors, or a system admin; audited as ``account.list``, refusals
    too)."""
    return _people_page(request, ctx, me)


@router.post("/agency/people/{username}/approve")
def approve(username: Username, request: Request, ctx: Context, me: Signed) -> Response:
    """One approval of a requested account (``account_approval.approve_account``: a
    supervisor or the head of its agency, never its owner; audited, refusals too)."""
    try:
        state = account_approval.approve_account(ctx, me.principal, username)
    except FacetrailError as error:
        if error.code in ("permission_denied", "not_found"):
            raise
        return _people_page(request, ctx, me, error)
    query = urlencode({"approved": state.username, "as": state.status})
    return RedirectResponse(f"/agency/people?{query}#requests", status_code=303)


_PEOPLE_COLUMNS: tuple[Column[Any], ...] = (
    Column("username", "Username", lambda a: a.username),
    Column("agency", "Agency", lambda a: a.agency),
    Column("status", "Status", lambda a: a.status),
    Column("since", "Since", lambda a: a.created_at),
)


def _people_page(
    request: Request, ctx: Context, me: Viewer, error: FacetrailError | None = None
) -> Response:
    found = directory.list_accounts(ctx, me.principal)
    approved = None
    query = request.query_params
    if query.get("approved") and query.get("as") in ("active", "requested"):
        approved = {"username": query["approved"][:100], "active": query["as"] == "active"}
    return page(
        "agency_people.html",
        viewer=me,
        current="/agency/people",
        accounts=listing(
            request,
            [a for a in found if a.status != "requested"],
            _PEOPLE_COLUMNS,
            text=lambda a: " ".join(
                (a.username, a.agency, a.status, a.email, *(ROLE_LABELS.get(r, r) for r in a.roles))
            ),
            sort="username",
        ),
        requests=[a for a in found if a.status == "requested"],
        approved=approved,
        error=error,
        heading="Every account"
        if me.principal.has(Role.SYSTEM_ADMIN)
        else f"People of {me.principal.agency}",
        role_labels=ROLE_LABELS,
        status_styles={"active": "done", "suspended": "failed"},
        may_add=bool(grantable(me)),
    )


@dataclass(frozen=True)
class SearchFilters:
    """What the filter form holds, as typed (dates as the form sends them: UTC days)."""

    case: str = ""
    status: str = ""
    since: str = ""
    until: str = ""

    def query(self) -> listings.SearchQuery:
        return listings.SearchQuery(
            case_number=self.case.strip() or None,
            status=self.status or None,
            since=self.since.strip() or None,
            until=self.until.strip() or None,
            limit=SEARCH_PAGE,
        )

    @property
    def any(self) -> bool:
        return bool(self.case or self.status or self.since or self.until)


@router.get("/agency/searches")
def searches(
    ctx: Context,
    me: Signed,
    case: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Every search of the viewer's agency, newest first, with filters
    (``listings.find_searches``: its investigators, supervisors, head and auditors; another
    agency's searches are never listed; audited as ``search.list``, refusals too, a bad
    filter among them)."""
    filters = SearchFilters(case, status, since, until)
    try:
        found = listings.find_searches(ctx, me.principal, filters.query())
        problem = None
    except FacetrailError as error:
        if error.subject not in ("since", "until"):
            raise  # not a date to correct: the refusal page
        found, problem = [], FormError.of(error)
    return page(
        "agency_searches.html",
        viewer=me,
        current="/agency/searches",
        filters=filters,
        searches=found,
        statuses=STATUS_LABELS,
        full=len(found) == SEARCH_PAGE,
        case_page=lambda number: "/cases?" + urlencode({"case": number}),
        error=problem,
    )


__all__ = ["STATUS_LABELS", "router"]
