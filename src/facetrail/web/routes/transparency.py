"""The public transparency page: anyone, signed in or not, picks an agency or a network and a
month that is over and reads its report (with charts, no personal data, small counts
hidden), downloads it as JSON, CSV or a self-contained HTML page (the API's route), and sees
every agency with access, since when and through which network. The service the CLI's
``report transparency`` calls."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError, InvalidRequestError
from facetrail.services.authorization import utc_now
from facetrail.services.oversight import reports
from facetrail.services.oversight.report_formats import (
    SUPPRESSION_NOTE,
    protected_activity,
    spelled,
    usage_charts,
)
from facetrail.web.render import FormError, page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)


@router.get("/transparency")
def transparency(
    ctx: Context,
    scope: Annotated[str, Query(max_length=300)] = "",
    month: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Public: no sign-in, nothing personal. ``scope`` is ``agency:NAME`` or ``network:NAME``;
    ``month`` YYYY-MM, a month that is over (default: the last)."""
    access = reports.access_table(ctx)
    networks = sorted({a.network for a in access if a.network})
    report = problem = None
    downloads: dict[str, str] = {}
    if scope:
        try:
            kind, _, name = scope.partition(":")
            if kind not in ("agency", "network") or not name:
                raise InvalidRequestError("choose an agency or a network", subject="scope")
            report = reports.transparency_report(
                ctx,
                agency=name if kind == "agency" else None,
                network=name if kind == "network" else None,
                month=month.strip() or None,
            )
            query = {kind: name, "month": report.month}
            downloads = {
                f: "/api/v1/reports/transparency?" + urlencode(query | {"format": f})
                for f in ("json", "csv", "html")
            }
        except FacetrailError as error:
            problem = FormError.of(error)
    charts = usage_charts(report) if report is not None else []
    return page(
        "transparency.html",
        current="/transparency",
        access=access,
        networks=networks,
        scope=scope,
        month=month,
        last_month=f"{reports.report_month(None, utc_now())[0]:%Y-%m}",
        note=SUPPRESSION_NOTE,
        count=spelled,
        report=report,
        charts=charts,
        protected=protected_activity(report) if report is not None else [],
        downloads=downloads,
        error=problem,
    )


__all__ = ["router"]
