"""Oversight: ``alerts list|run|ack|close|import-cases`` and ``oversight show|digest|run``
(``services.oversight.alerts``, ``services.oversight.agency``, ``services.oversight.digests``: an
agency's head and auditors, and system admins; every view, step and refusal audited)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import (
    JsonOpt,
    alerts_app,
    as_signed_in,
    oversight_app,
)
from facetrail.cli.render import console, print_json, print_listing, print_rows
from facetrail.errors import InvalidRequestError
from facetrail.services.oversight import agency as oversight
from facetrail.services.oversight import alerts, digests
from facetrail.services.searching.listings import parse_moment

AgencyOpt = Annotated[
    str | None, typer.Option(help="The agency (default: your own; a system admin names any).")
]
NoteOpt = Annotated[str, typer.Option(help="What was found or done (10+ characters).")]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="Start of the period (YYYY-MM-DD, UTC), included.")
]
ToOpt = Annotated[
    str | None, typer.Option("--to", help="End of the period (YYYY-MM-DD, UTC), excluded.")
]


def _day(value: str | None, option: str) -> datetime | None:
    return parse_moment(value, option) if value is not None else None


@alerts_app.command("list")
def alerts_list(
    agency: AgencyOpt = None,
    status: Annotated[
        str | None, typer.Option(help="Only alerts in this state: open, acknowledged, closed.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """An agency's misuse alerts, newest first."""
    found = as_signed_in(lambda ctx, me: alerts.list_alerts(ctx, me, agency, status))
    print_listing(
        found,
        [
            ("alert", "id"),
            "rule",
            "status",
            ("about", "user"),
            ("raised", "raised_at"),
            "summary",
        ],
        as_json=as_json,
        empty="no alerts",
    )


@alerts_app.command("run")
def alerts_run(agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Run an agency's alert rules now (the service also runs them on a schedule)."""
    raised = as_signed_in(lambda ctx, me: alerts.run_alerts(ctx, me, agency or me.agency))
    if as_json:
        print_json({"raised": raised})
        return
    console.print(f"{len(raised)} new alert(s)" + (f": {raised}" if raised else ""))


def _step(alert_id: int, note: str, as_json: bool, *, close: bool) -> None:
    handle = alerts.close_alert if close else alerts.acknowledge_alert
    view = as_signed_in(lambda ctx, me: handle(ctx, me, alert_id, note))
    if as_json:
        print_json(view)
        return
    console.print(f"alert {view.id} ({view.rule}): {view.status}")


@alerts_app.command("ack")
def alerts_ack(alert_id: int, note: NoteOpt, as_json: JsonOpt = False) -> None:
    """Acknowledge an open alert, with a note. Audited."""
    _step(alert_id, note, as_json, close=False)


@alerts_app.command("close")
def alerts_close(alert_id: int, note: NoteOpt, as_json: JsonOpt = False) -> None:
    """Close an alert, with a note saying what was found or done. Audited."""
    _step(alert_id, note, as_json, close=True)


@alerts_app.command("import-cases")
def alerts_import_cases(
    agency: str,
    csv_file: Annotated[
        Path, typer.Argument(help="A CSV whose first column holds the open case numbers.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Replace an agency's open-case list: searches under other case numbers raise alerts."""
    try:
        rows = alerts.case_numbers_in(csv_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidRequestError(f"cannot read {csv_file}: {exc}", subject=str(csv_file)) from exc
    count = as_signed_in(lambda ctx, me: alerts.import_open_cases(ctx, me, agency, rows))
    if as_json:
        print_json({"agency": agency, "open_cases": count})
        return
    console.print(f"{agency}: {count} open case number(s)")


@oversight_app.command("show")
def oversight_show(
    agency: AgencyOpt = None, since: FromOpt = None, until: ToOpt = None, as_json: JsonOpt = False
) -> None:
    """Every person of the agency and every search made for it (a network's among them)."""
    start, end = _day(since, "--from"), _day(until, "--to")
    view = as_signed_in(
        lambda ctx, me: oversight.agency_oversight(ctx, me, agency, since=start, until=end)
    )
    if as_json:
        print_json(view)
        return
    network = f" (network {escape(view.network)})" if view.network else ""
    console.print(
        f"[bold]{escape(view.agency)}[/bold]{network}: {view.searches_total} search(es), "
        f"{view.open_alerts} open alert(s)"
    )
    people = [*view.people, *view.network_people]
    print_rows(
        ["person", "agency", "status", "roles", "approved by", "last active", "searches"],
        [
            [
                p.username,
                p.agency,
                p.status,
                ", ".join(p.roles),
                p.approved_by,
                p.last_activity,
                p.searches,
            ]
            for p in people
        ],
    )
    print_rows(
        ["search", "at", "by", "case", "offense", "status", "outcome", "reviewers"],
        [
            [
                s.id,
                s.at[:19],
                f"{s.requester} ({s.requester_agency})" if s.via_network else s.requester,
                s.case,
                s.offense,
                s.status,
                s.outcome,
                ", ".join(s.reviewers),
            ]
            for s in view.searches
        ],
        empty="no searches",
    )


@oversight_app.command("digest")
def oversight_digest(
    since: FromOpt = None,
    until: ToOpt = None,
    agency: AgencyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The digest of a period (by default the last week) for an agency, as its head gets it."""
    end = _day(until, "--to") or datetime.now(UTC)
    start = _day(since, "--from") or digests.digest_period("weekly", end)[0]
    digest = as_signed_in(
        lambda ctx, me: digests.show_digest(ctx, me, agency or me.agency, start, end)
    )
    if as_json:
        print_json(digest)
        return
    console.print(escape(digest.text()))


@oversight_app.command("run")
def oversight_run(as_json: JsonOpt = False) -> None:
    """What the service does on its schedule, now: raise every agency's alerts and send the
    digests that are due (a system admin)."""
    done = as_signed_in(oversight.run_schedule)
    if as_json:
        print_json(done)
        return
    raised = sum(len(ids) for ids in done.alerts_raised.values())
    console.print(f"{raised} alert(s) raised, {len(done.digests_sent)} digest(s) sent")
