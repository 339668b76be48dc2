"""The public transparency page: anyone, signed in or not, picks an agency or a network and a
period and reads its report (with charts, no personal data), downloads it as JSON, CSV or a
self-contained HTML page (the API's route), and sees every agency with access, since when and
through which network. The service the CLI's ``report transparency`` calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from facetrail.api.deps import Context
from facetrail.errors import FacetrailError, InvalidRequestError
from facetrail.services import reports
from facetrail.services.listings import parse_moment
from facetrail.services.report_formats import usage_charts
from facetrail.web.render import FormError, page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)


def _day(value: str, field: str) -> datetime | None:
    return parse_moment(value.strip(), field) if value.strip() else None


@router.get("/transparency")
def transparency(
    ctx: Context,
    scope: Annotated[str, Query(max_length=300)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Public: no sign-in, nothing personal. ``scope`` is ``agency:NAME`` or ``network:NAME``."""
    access = reports.access_table(ctx)
    networks = sorted({a.network for a in access if a.network})
    report = problem = None
    downloads: dict[str, str] = {}
    if scope:
        try:
            kind, _, name = scope.partition(":")
            if kind not in ("agency", "network") or not name:
                raise InvalidRequestError("choose an agency or a network", subject="scope")
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start = _day(since, "since") or today - timedelta(days=30)
            end = _day(until, "until") or today + timedelta(days=1)
            report = reports.transparency_report(
                ctx,
                agency=name if kind == "agency" else None,
                network=name if kind == "network" else None,
                since=start,
                until=end,
            )
            query = {kind: name, "since": start.isoformat(), "until": end.isoformat()}
            downloads = {
                f: "/api/v1/reports/transparency?" + urlencode(query | {"format": f})
                for f in ("json", "csv", "html")
            }
        except FacetrailError as error:
            problem = FormError.of(error)
    charts = usage_charts(report) if report is not None else []
    return page(
        "transparency.html",
        status=problem.status if problem is not None else 200,
        current="/transparency",
        access=access,
        networks=networks,
        scope=scope,
        since=since,
        until=until,
        report=report,
        charts=charts,
        downloads=downloads,
        error=problem,
    )


__all__ = ["router"]
