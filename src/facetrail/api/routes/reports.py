"""Transparency reports, public by design (no token needed, no personal data): an agency's
or a network's figures for a calendar month that is over, as JSON, CSV or a self-contained
HTML page with charts, small counts hidden (``services.oversight.reports``); and every agency with
access, since when, through which network."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from facetrail.edge.deps import Context
from facetrail.errors import InvalidRequestError
from facetrail.services.oversight import reports
from facetrail.services.oversight.report_formats import report_csv, report_html
from facetrail.services.oversight.reports import AgencyAccess, TransparencyReport

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
    month: Annotated[
        str | None,
        Query(max_length=20, description="YYYY-MM, a month that is over; default: the last"),
    ] = None,
    output: Annotated[Literal["json", "csv", "html"], Query(alias="format")] = "json",
    since: Annotated[str | None, Query(include_in_schema=False, max_length=60)] = None,
    until: Annotated[str | None, Query(include_in_schema=False, max_length=60)] = None,
) -> TransparencyReport | Response:
    """Counted from the tamper-evident log's typed events; no personal data. One calendar
    month that is over; a count from 1 to 4 is the string "<5" (and a count that would give
    one away ">=5"), 0 and the others are numbers."""
    if since is not None or until is not None:
        # A client of the days when any period could be asked for is told, not answered for
        # another period than the one it asked.
        raise InvalidRequestError(
            "a public report covers one calendar month that is over: ?month=YYYY-MM",
            subject="since" if since is not None else "until",
        )
    report = reports.transparency_report(ctx, agency=agency, network=network, month=month)
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
