"""Transparency reports: ``report transparency`` (``services.oversight.reports``: public, no
personal data; as JSON, CSV or one self-contained HTML page with charts) and ``report agencies``
(every agency with access, since when, through which network)."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from facetrail.cli.app import JsonOpt, open_context, report_app, run_service
from facetrail.cli.outputs import outputs_writable, write_output
from facetrail.cli.render import console, print_json, print_listing
from facetrail.services.oversight import reports
from facetrail.services.oversight.report_formats import report_csv, report_html
from facetrail.services.views import plain


class ReportFormat(enum.StrEnum):
    json = "json"
    csv = "csv"
    html = "html"


@report_app.command("transparency")
def report_transparency(
    agency: Annotated[str | None, typer.Option(help="The agency reported on.")] = None,
    network: Annotated[str | None, typer.Option(help="Or a network (its members).")] = None,
    month: Annotated[
        str | None,
        typer.Option(help="The month (YYYY-MM, UTC), one that is over; default: the last."),
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="json, csv or html (with charts).")
    ] = ReportFormat.json,
    out: Annotated[Path | None, typer.Option(help="Write it here (default: print it).")] = None,
) -> None:
    """An agency's or a network's transparency report for a calendar month that is over
    (counts from 1 to 4 shown as "<5")."""
    run_service(lambda: outputs_writable(files=[out]))
    with open_context() as ctx:
        report = run_service(
            lambda: reports.transparency_report(ctx, agency=agency, network=network, month=month)
        )
        access = reports.access_table(ctx)
    if output_format is ReportFormat.html:
        text = report_html(report, access)
    elif output_format is ReportFormat.csv:
        text = report_csv(report)
    else:
        text = json.dumps(plain(report), indent=2)
    if out is None:
        typer.echo(text)
        return
    run_service(lambda: write_output(out, text))
    console.print(f"{output_format.value} report of {report.name} written to {out}")


@report_app.command("agencies")
def report_agencies(as_json: JsonOpt = False) -> None:
    """Every agency with access, since when, and the network it reaches facetrail through."""
    with open_context() as ctx:
        found = reports.access_table(ctx)
    if as_json:
        print_json(found)
        return
    print_listing(found, ["agency", "network", "since"], as_json=False, empty="no agencies")
