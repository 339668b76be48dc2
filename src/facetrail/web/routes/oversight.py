"""What an agency's head and auditors oversee in the browser: every person and every search
of the agency (a network operator's searches for it among them, naming who ran them) with the
last week's digest, and the misuse alerts, acknowledged and closed with a note. The services
the CLI's ``oversight`` and ``alerts`` commands and the API's routes call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.oversight import AlertNote, OpenCases
from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError, InvalidRequestError
from facetrail.services.oversight import agency as oversight
from facetrail.services.oversight import alerts, digests, trends
from facetrail.services.oversight.report_formats import bar_chart, column_chart
from facetrail.web.deps import Form, Signed, files, text
from facetrail.web.listing import Column, listing
from facetrail.web.render import page
from facetrail.web.routes.people import ROLE_LABELS
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: store.vocabulary.ALERT_STATUSES, in words
ALERT_STATUS_LABELS = {"open": "Open", "acknowledged": "Acknowledged", "closed": "Closed"}


#: The period the head's view shows unless another is chosen.
DEFAULT_DAYS = 30


@router.get("/agency/oversight")
def overview(
    ctx: Context,
    me: Signed,
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
    person: Annotated[str, Query(max_length=100)] = "",
    offense: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The viewer's agency: its use over a period in charts (by day or week, person and
    offense; decisions and alerts), its people, its searches (the newest first) and the last
    period's digest (``trends.agency_trends``, ``oversight.agency_oversight``,
    ``digests.show_digest``: its head and auditors, or a system admin; audited, refusals
    too). ``since`` and ``until`` are UTC days (``until`` included); the last 30 by default."""
    filters = {"since": since, "until": until, "person": person, "offense": offense}
    error: FacetrailError | None = None
    try:
        start, end = _period(since, until)
    except FacetrailError as bad:
        error, (start, end) = bad, _period("", "")
    found = trends.agency_trends(
        ctx, me.principal, start, end, person=person or None, offense=offense or None
    )
    view = oversight.agency_oversight(ctx, me.principal)
    digest = digests.show_digest(ctx, me.principal, view.agency, start, end)
    charts = [
        column_chart(f"Searches per {found.bucket}", found.searches),
        bar_chart("Searches by person", {k: float(v) for k, v in found.by_person.items()}),
        bar_chart("Searches by offense", {k: float(v) for k, v in found.by_offense.items()}),
        bar_chart("Supervisors' decisions", {k: float(v) for k, v in found.decisions.items()}),
        bar_chart("Misuse alerts raised, by rule", {k: float(v) for k, v in found.alerts.items()}),
    ]
    return page(
        "oversight.html",
        viewer=me,
        current="/agency/oversight",
        view=view,
        digest=digest,
        trends=found,
        charts=charts,
        filters=filters,
        shown_since=start.date().isoformat(),
        shown_until=(end - timedelta(days=1)).date().isoformat(),
        role_labels=ROLE_LABELS,
        error=error,
    )


def _period(since: str, until: str) -> tuple[datetime, datetime]:
    """[start, end) of the days typed (UTC, ``until`` included); the last 30 days by default."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = _day(until, "until") + timedelta(days=1) if until else today + timedelta(days=1)
    start = _day(since, "since") if since else end - timedelta(days=DEFAULT_DAYS)
    return start, end


def _day(typed: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(typed.strip()[:10]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidRequestError(f"'{typed}' is not a date (YYYY-MM-DD)", subject=field) from exc


@router.get("/alerts")
def alert_list(
    request: Request,
    ctx: Context,
    me: Signed,
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The viewer's agency's misuse alerts, newest first (``alerts.list_alerts``: its head
    and auditors, or a system admin; audited)."""
    if status and status not in ALERT_STATUS_LABELS:
        raise InvalidRequestError("no such alert state", subject="status")
    found = alerts.list_alerts(ctx, me.principal, None, status or None)
    done = request.query_params.get("done", "")
    return page(
        "alerts.html",
        viewer=me,
        current="/alerts",
        alerts=listing(
            request,
            found,
            (Column("raised", "Raised", lambda a: (a.raised_at, a.id)),),
            text=lambda a: f"{a.id} {a.rule.replace('_', ' ')} {a.summary} {a.user or ''}",
            sort="raised",
            descending=True,
            per_page=20,
        ),
        shown_status=status,
        statuses=ALERT_STATUS_LABELS,
        done=int(done) if done.isdigit() else None,
        min_note=alerts.MIN_NOTE,
        open_cases=request.query_params.get("open_cases", "")[:9],
    )


@router.post("/alerts/open-cases")
def open_cases(ctx: Context, me: Signed, form: Form) -> Response:
    """Replace the agency's open-case list from a file its case system exported, or numbers
    pasted (``alerts.case_numbers_in``, then ``alerts.import_open_cases``: its head or an
    auditor, or a system admin; audited, refusals too): searches under other numbers then
    raise the ``open_cases`` alert."""
    chosen = files(form, "file")
    if chosen:
        raw = chosen[0].file.read(MAX_CASES_FILE + 1)
        if len(raw) > MAX_CASES_FILE:
            raise InvalidRequestError("the file is over 2 MB", subject="file")
        try:
            typed = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError("the file is not UTF-8 text", subject="file") from exc
    else:
        typed = text(form, "cases", max_length=MAX_CASES_FILE, default="")
    # One list of numbers, as the API is sent it: its length is the model's to limit.
    cases = OpenCases.from_form(form, case_numbers=alerts.case_numbers_in(typed))
    count = alerts.import_open_cases(ctx, me.principal, me.principal.agency, cases.case_numbers)
    return RedirectResponse(f"/alerts?open_cases={count}#open-cases", status_code=303)


@router.post("/alerts/{alert_id}")
def handle(alert_id: AlertId, ctx: Context, me: Signed, form: Form) -> Response:
    """Acknowledge or close an alert with a note (the agency's head or an auditor, not the
    person it is about; audited, refusals too)."""
    step = text(form, "step", max_length=20, default="")
    if step not in ("acknowledge", "close"):
        raise InvalidRequestError("choose acknowledge or close", subject="step")
    handler = alerts.close_alert if step == "close" else alerts.acknowledge_alert
    handler(ctx, me.principal, alert_id, AlertNote.from_form(form).note)
    return RedirectResponse(f"/alerts?done={alert_id}", status_code=303)


#: the largest open-case list taken from the browser
MAX_CASES_FILE = 2_000_000

__all__ = ["ALERT_STATUS_LABELS", "router"]
