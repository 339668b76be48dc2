"""What an agency's head and auditors oversee in the browser: every person and every search
of the agency (a network operator's searches for it among them, naming who ran them) with the
last week's digest, and the misuse alerts, acknowledged and closed with a note. The services
the CLI's ``oversight`` and ``alerts`` commands and the API's routes call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.api.deps import Context
from facetrail.errors import InvalidRequestError
from facetrail.services.oversight import agency as oversight
from facetrail.services.oversight import alerts, digests
from facetrail.web.deps import Form, Signed, text
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: store.vocabulary.ALERT_STATUSES, in words
ALERT_STATUS_LABELS = {"open": "Open", "acknowledged": "Acknowledged", "closed": "Closed"}


@router.get("/agency/oversight")
def overview(ctx: Context, me: Signed) -> Response:
    """The viewer's agency: its people, its searches (the newest first) and the last whole
    week's digest (``oversight.agency_oversight``, ``digests.show_digest``: its head and
    auditors, or a system admin; audited, refusals too)."""
    view = oversight.agency_oversight(ctx, me.principal)
    end = datetime.now(UTC)
    start, until = digests.digest_period("weekly", end)
    digest = digests.show_digest(ctx, me.principal, view.agency, start, until)
    return page("oversight.html", viewer=me, current="/agency/oversight", view=view, digest=digest)


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
        alerts=found,
        shown_status=status,
        statuses=ALERT_STATUS_LABELS,
        done=int(done) if done.isdigit() else None,
        min_note=alerts.MIN_NOTE,
    )


@router.post("/alerts/{alert_id}")
def handle(alert_id: AlertId, ctx: Context, me: Signed, form: Form) -> Response:
    """Acknowledge or close an alert with a note (the agency's head or an auditor, not the
    person it is about; audited, refusals too)."""
    step = text(form, "step", max_length=20, default="")
    if step not in ("acknowledge", "close"):
        raise InvalidRequestError("choose acknowledge or close", subject="step")
    handler = alerts.close_alert if step == "close" else alerts.acknowledge_alert
    handler(ctx, me.principal, alert_id, text(form, "note", default=""))
    return RedirectResponse(f"/alerts?done={alert_id}", status_code=303)


__all__ = ["ALERT_STATUS_LABELS", "router"]
