"""Transparency reports, public by design (no token needed, no personal data): an agency's
or a network's figures for a period as JSON, CSV or a self-contained HTML page with charts;
and every agency with access, since when, through which network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from facetrail.api.deps import Context
from facetrail.services import reports
from facetrail.services.authorization import as_utc
from facetrail.services.report_formats import report_csv, report_html
from facetrail.services.reports import AgencyAccess, TransparencyReport

router = APIRouter(tags=["reports"], prefix="/reports")

Name = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get(
    "/transparency",
    response_model=TransparencyReport,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
    summary="An agency's or a network's transparency report (public)",
)
def transparency(
    ctx: Context,
    agency: Name = None,
    network: Name = None,
    since: Annotated[datetime | None, Query(description="default: 30 days ago")] = None,
    until: Annotated[datetime | None, Query(description="default: now")] = None,
    output: Annotated[Literal["json", "csv", "html"], Query(alias="format")] = "json",
) -> TransparencyReport | Response:
    """Counted from the tamper-evident log's typed events; no personal data."""
    end = as_utc(until) or datetime.now(UTC)
    start = as_utc(since) or end - timedelta(days=30)
    report = reports.transparency_report(
        ctx, agency=agency, network=network, since=start, until=end
    )
    if output == "csv":
        return Response(report_csv(report), media_type="text/csv; charset=utf-8")
    if output == "html":
        page = report_html(report, reports.access_table(ctx))
        return Response(page, media_type="text/html; charset=utf-8")
    return report


@router.get(
    "/agencies",
    response_model=list[AgencyAccess],
    summary="Every agency with access, since when, through which network (public)",
)
def agencies(ctx: Context) -> list[AgencyAccess]:
    return reports.access_table(ctx)
