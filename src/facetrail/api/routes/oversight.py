"""Oversight: what an agency's head and auditors see (its people and searches, a network's
searches for it among them; digests) and its misuse alerts (listed, run, acknowledged and
closed with a note), the open-case list the rules check, and the system admin's run of the
schedule now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from facetrail.edge.bodies.oversight import AlertNote, OpenCases
from facetrail.edge.deps import Context, Me
from facetrail.services.authorization import as_utc
from facetrail.services.oversight import agency as oversight
from facetrail.services.oversight import alerts, digests
from facetrail.services.oversight.agency import AgencyOversight, ScheduleRun
from facetrail.services.oversight.alerts import AlertView
from facetrail.services.oversight.digests import Digest

router = APIRouter(tags=["oversight"])

Agency = Annotated[str, Path(min_length=1, max_length=200)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Since = Annotated[datetime | None, Query(description="start of the period (ISO time), included")]
Until = Annotated[datetime | None, Query(description="end of the period (ISO time), excluded")]


class Raised(BaseModel):
    raised: list[int]


class OpenCasesCount(BaseModel):
    agency: str
    open_cases: int


@router.get(
    "/agencies/{agency}/oversight",
    response_model=AgencyOversight,
    summary="The agency's people and every search made for it",
)
def show(
    agency: Agency, ctx: Context, me: Me, since: Since = None, until: Until = None
) -> AgencyOversight:
    """The head, the auditors, system admins. Audited (``oversight.view``), refusals too."""
    return oversight.agency_oversight(ctx, me, agency, since=as_utc(since), until=as_utc(until))


@router.get("/agencies/{agency}/digest", response_model=Digest, summary="A period's digest")
def digest(
    agency: Agency, ctx: Context, me: Me, since: Since = None, until: Until = None
) -> Digest:
    """As the head gets it (by default the last whole week). Audited (``digest.view``)."""
    end = as_utc(until) or datetime.now(UTC)
    start = as_utc(since) or digests.digest_period("weekly", end)[0]
    return digests.show_digest(ctx, me, agency, start, end)


@router.get("/agencies/{agency}/alerts", response_model=list[AlertView], summary="Alerts")
def list_alerts(
    agency: Agency,
    ctx: Context,
    me: Me,
    status: Annotated[Literal["open", "acknowledged", "closed"] | None, Query()] = None,
) -> list[AlertView]:
    """Newest first. The head, the auditors, system admins. Audited (``alert.list``)."""
    return alerts.list_alerts(ctx, me, agency, status)


@router.post("/agencies/{agency}/alerts/run", response_model=Raised, summary="Run the rules now")
def run_rules(agency: Agency, ctx: Context, me: Me) -> Raised:
    """Each finding not raised before becomes an alert, told to the head and auditors."""
    return Raised(raised=alerts.run_alerts(ctx, me, agency))


@router.post("/alerts/{alert_id}/acknowledgement", response_model=AlertView, summary="Acknowledge")
def acknowledge(alert_id: AlertId, body: AlertNote, ctx: Context, me: Me) -> AlertView:
    """The agency's head or an auditor, with a note; not the person the alert is about."""
    return alerts.acknowledge_alert(ctx, me, alert_id, body.note)


@router.post("/alerts/{alert_id}/closure", response_model=AlertView, summary="Close")
def close(alert_id: AlertId, body: AlertNote, ctx: Context, me: Me) -> AlertView:
    """The agency's head or an auditor, with a note; not the person the alert is about."""
    return alerts.close_alert(ctx, me, alert_id, body.note)


@router.put(
    "/agencies/{agency}/open-cases",
    response_model=OpenCasesCount,
    summary="Replace the open-case list",
)
def open_cases(agency: Agency, body: OpenCases, ctx: Context, me: Me) -> OpenCasesCount:
    """Searches under other case numbers raise ``open_cases`` alerts. Audited."""
    count = alerts.import_open_cases(ctx, me, agency, body.case_numbers)
    return OpenCasesCount(agency=agency, open_cases=count)


@router.post("/oversight/run", response_model=ScheduleRun, summary="Run the schedule now")
def run_schedule(ctx: Context, me: Me) -> ScheduleRun:
    """Every agency's alert rules and the digests due, now (system admins)."""
    return oversight.run_schedule(ctx, me)
