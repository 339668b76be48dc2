"""An investigator's searches: the new-search form (the agency policy's offenses and
galleries; a network operator picks the member agency it searches for; a script lets the
investigator pick the probe's face), a stored search with its candidates beside the probe's
face, blind review (first or second: a supervisor reviews on the same form) and the outcome;
each a call to the service the API and CLI call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Self, cast

from fastapi import APIRouter, Path, Query, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from facetrail.edge import limits
from facetrail.edge.bodies.searching import MAX_TOP, OutcomeBody, ReviewBody, SearchAsk
from facetrail.edge.deps import Context
from facetrail.edge.uploads import MAX_PROBES, probe_images
from facetrail.errors import FacetrailError
from facetrail.governance.attestation import ATTESTATION, MIN_PROTECTED_REASON
from facetrail.governance.case_numbers import case_rule_in_words
from facetrail.governance.credentials import Role
from facetrail.governance.policy import ApprovalMode
from facetrail.services.accounts import directory
from facetrail.services.oversight import policy
from facetrail.services.searching import listings, probe_views, review, search
from facetrail.services.searching.search_model import LEAD_NOTICE
from facetrail.services.signin.authentication import TokenUse
from facetrail.web.deps import Form, Looking, Signed, Viewer, files, text
from facetrail.web.listing import Column, listing
from facetrail.web.render import page
from facetrail.web.result_view import DECISION_LABELS, OUTCOME_LABELS, result_page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

SearchId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CandidateId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ProbeIndex = Annotated[int, Path(ge=0, lt=MAX_PROBES)]
#: Candidates from each gallery the form offers first (the API's default is 50, for programs
#: that rank themselves).
DEFAULT_TOP = 20


@dataclass(frozen=True)
class SearchForm:
    """What the new-search form shows: what was typed, kept as typed when a refusal sends it
    back (``SearchAsk`` reads the form; this only shows it again)."""

    case_number: str = ""
    offense: str = ""
    justification: str = ""
    galleries: list[str] = field(default_factory=list)
    #: a network operator's choice of member agency (None: the viewer's own)
    on_behalf_of: str | None = None
    #: candidates from each gallery, as typed
    top: str = str(DEFAULT_TOP)
    protected_reason: str = ""

    @classmethod
    def typed(cls, form: FormData) -> Self:
        def one(name: str, default: str = "") -> str:
            value = form.get(name, default)
            return value if isinstance(value, str) else default

        return cls(
            case_number=one("case_number"),
            offense=one("offense"),
            justification=one("justification"),
            galleries=[g for g in form.getlist("galleries") if isinstance(g, str)],
            on_behalf_of=one("on_behalf_of") or None,
            top=one("top", str(DEFAULT_TOP)),
            protected_reason=one("protected_reason"),
        )


_SEARCH_COLUMNS: tuple[Column[listings.SearchSummary], ...] = (
    Column("search", "Search", lambda s: s.search_id),
    Column("case", "Case", lambda s: s.case_number),
    Column("offense", "Offense", lambda s: s.offense),
    Column("state", "State", lambda s: s.status),
    Column("asked", "Asked", lambda s: (s.requested_at, s.search_id)),
)


@router.get("/searches")
def my_searches(request: Request, ctx: Context, me: Signed) -> Response:
    """The viewer's own searches, newest first, sorted, filtered and paged as asked
    (``listings.own_searches``: audited, naming the searches read)."""
    mine = listings.own_searches(ctx, me.principal, limit=listings.MAX_LISTED)
    shown = listing(
        request,
        mine,
        _SEARCH_COLUMNS,
        text=lambda s: " ".join(
            (str(s.search_id), s.case_number, s.offense, s.status, s.outcome or "", *s.galleries)
        ),
        sort="asked",
        descending=True,
    )
    return page("searches.html", viewer=me, current="/searches", searches=shown)


def _search_form(
    ctx: Context, me: Viewer, values: SearchForm, error: FacetrailError | None = None
) -> Response:
    """The form, offering what the policy in force allows (``policy.show_policy``: reading
    it is audited): the viewer's agency's, or for a network operator the member agency's it
    searches for (the agencies it may see: ``directory.list_agencies``, audited)."""
    agencies: list[str] = []
    for_agency = me.principal.agency
    if me.principal.has(Role.NETWORK_OPERATOR):
        agencies = [a.name for a in directory.list_agencies(ctx, me.principal)]
        members = [a for a in agencies if a != me.principal.agency] or agencies
        if values.on_behalf_of in agencies:
            for_agency = values.on_behalf_of
        elif members:
            for_agency = members[0]
    info = policy.show_policy(ctx, me.principal, for_agency)
    rules = info.policy
    if rules.approval is ApprovalMode.ALWAYS:
        approval = "Every search needs a supervisor's approval before it runs."
    elif rules.approval is ApprovalMode.LISTED and rules.approval_offenses:
        listed = ", ".join(o.replace("-", " ") for o in rules.approval_offenses)
        approval = f"Searches for these need a supervisor's approval first: {listed}."
    else:
        approval = "Searches run at once; every one is recorded."
    return page(
        "search_new.html",
        viewer=me,
        current="/searches/new",
        policy=info,
        offense_labels={o: o.replace("-", " ").capitalize() for o in rules.offenses},
        approval_note=approval,
        values=values,
        agencies=agencies,
        max_probes=MAX_PROBES,
        max_top=MAX_TOP,
        case_rule=case_rule_in_words(rules.case_pattern),
        attestation=ATTESTATION,
        min_protected_reason=MIN_PROTECTED_REASON,
        protected_labels=[o.replace("-", " ") for o in rules.protected_offenses],
        notice=LEAD_NOTICE,
        error=error,
    )


@router.get("/searches/new")
def new_search_form(
    ctx: Context,
    me: Signed,
    on_behalf_of: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """``on_behalf_of``: the member agency a network operator searches for (its policy is
    the one the form offers); ignored for everyone else."""
    return _search_form(ctx, me, SearchForm(on_behalf_of=on_behalf_of))


@router.post("/searches/new")
def new_search(request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """Runs ``search.search`` (policy checked before any probe is decoded; every refusal is
    audited as ``search.refused``) within the API's rate limit, then shows the stored search:
    results, or pending.

    The form is read as the API reads its own (``SearchAsk``), and shown again as typed after
    a refusal."""
    try:
        asked = SearchAsk.from_form(form)
        limits.check(request, ctx, "search", me.principal.username, "search")
        # Starlette's UploadFile is what a parsed form holds; probe_images reads only the
        # attributes FastAPI's subclass shares with it.
        probes = probe_images(
            cast(list[UploadFile], files(form, "probes")), ctx.settings.max_image_bytes
        )
        result = search.search(ctx, asked.request(me.principal, probes), include_crops=False)
    except FacetrailError as error:
        return _search_form(ctx, me, SearchForm.typed(form), error)
    return RedirectResponse(f"/searches/{result.search_id}", status_code=303)


def _result(
    ctx: Context,
    me: Viewer,
    search_id: int,
    *,
    message: str | None = None,
    error: FacetrailError | None = None,
    error_candidate: int | None = None,
    token_use: TokenUse | None = None,
    asked: str | None = None,
) -> Response:
    """A stored search (``probe_views.show_result``: one audited view, the faces in the page;
    another agency's answers as not found), each candidate beside the probe's face while
    retention keeps the probe."""
    shown = probe_views.show_result(ctx, me.principal, search_id, token_use=token_use)
    view = result_page(shown.result, me.principal, shown.probe_face)
    return page(
        "search_result.html",
        viewer=me,
        result=view.result,
        state=view.state,
        galleries=view.galleries,
        likely=view.likely,
        unlikely=view.unlikely,
        likely_bar=view.likely_bar,
        probe_faces=view.probe_faces,
        probe_name=view.probe_name,
        probe_face=view.probe_face,
        probe_gone=shown.probe_gone,
        may_ask=me.principal.has_any(Role.INVESTIGATOR, Role.SUPERVISOR),
        asked=asked,
        may_close=view.may_close,
        may_disclose=view.may_disclose,
        decision_labels=DECISION_LABELS,
        outcome_labels=OUTCOME_LABELS,
        min_note=review.MIN_NOTE,
        message=message,
        error=error,
        error_candidate=error_candidate,
    )


@router.get("/searches/{search_id}")
def show_search(
    search_id: SearchId,
    ctx: Context,
    look: Looking,
    asked: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """One audited look: the page's ``search.view`` entry names the session's token too.
    ``asked``: the colleague just asked for the second review."""
    return _result(ctx, look.viewer, search_id, token_use=look.use, asked=asked or None)


@router.get("/searches/{search_id}/probes/{probe_index}/crop")
def probe_crop(search_id: SearchId, probe_index: ProbeIndex, ctx: Context, me: Signed) -> Response:
    """The face the search used in a probe, as JPEG (``probe_views.probe_crop``: read as the
    search is, audited as ``search.probe_view``, refusals too; not found once retention has
    deleted the probe)."""
    jpeg = probe_views.probe_crop(ctx, me.principal, search_id, probe_index)
    return Response(
        jpeg,
        media_type="image/jpeg",
        # A face from a case: not kept in the browser's cache once the page is gone.
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/candidates/{candidate_id}/review")
def review_candidate(candidate_id: CandidateId, ctx: Context, me: Signed, form: Form) -> Response:
    """The viewer's call on one candidate (``review.review_candidate``: first or second,
    blind review; audited, refusals too)."""
    try:
        body = ReviewBody.from_form(form)
        info = review.review_candidate(ctx, me.principal, candidate_id, body.decision, body.note)
    except FacetrailError as error:
        # Back to the page the form came from (its search, which get_search checks again).
        shown_on = text(form, "search_id", max_length=20, default="")
        if not shown_on.isdigit() or not 1 <= int(shown_on) < 2**63:
            raise
        return _result(ctx, me, int(shown_on), error=error, error_candidate=candidate_id)
    return RedirectResponse(f"/searches/{info.search_id}#candidate-{candidate_id}", status_code=303)


@router.post("/searches/{search_id}/outcome")
def outcome(search_id: SearchId, ctx: Context, me: Signed, form: Form) -> Response:
    """Closes the search as a lead or no lead (``review.record_outcome``, audited)."""
    try:
        body = OutcomeBody.from_form(form)
        review.record_outcome(ctx, me.principal, search_id, body.outcome, body.note)
    except FacetrailError as error:
        return _result(ctx, me, search_id, error=error)
    return RedirectResponse(f"/searches/{search_id}#outcome", status_code=303)
