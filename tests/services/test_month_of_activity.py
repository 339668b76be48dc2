"""A month of an agency's activity, day by day on a travelling clock (time-machine), through
the services (issue 14): searches under several offenses, prior approvals given and denied,
reviews and leads, a network operator's searches for the agency, a new account, alerts raised
and closed, an erasure and a retention purge. Then every figure of the month's transparency
report, of its digest and of its alerts, all counted from typed audit events, is checked
against the store queried directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.errors import StateError
from facetrail.governance.credentials import Role
from facetrail.governance.events import AlertRaised, read_events
from facetrail.governance.policy import ApprovalMode
from facetrail.services import accounts as acc
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.oversight import alerts, digests
from facetrail.services.oversight.report_formats import report_html, spelled
from facetrail.services.oversight.reports import (
    published,
    published_breakdown,
    transparency_report,
)
from facetrail.services.rights.erasure import (
    ErasureRequest,
    approve_erasure,
    complete_erasure,
    decide_matches,
    open_erasure,
)
from facetrail.services.rights.legal_holds import decide_hold, list_holds
from facetrail.services.rights.retention import run_retention
from facetrail.services.searching import review
from facetrail.services.searching import search as search_service
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import (
    AlertRow,
    ErasureRow,
    SearchRecord,
    User,
)
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import AGENCY, make_gallery, make_org

pytestmark = needs_lfw

START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
DAYS = 30
OFFENSES = ("armed-robbery", "arson", "kidnapping", "homicide")


def _probe(person: Path, n: int = 1) -> tuple[ProbeImage, ...]:
    path = sorted(person.glob("*.jpg"))[n]
    return (ProbeImage(path.name, path.read_bytes()),)


@pytest.fixture()
def month(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The county's October 2026, lived a day at a time."""
    people = lfw_people(12, min_images=3)
    with time_machine.travel(START, tick=True):
        ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
        org = make_org(ctx)
        acc.create_network(ctx, org.admin, "metro")
        acc.create_agency(ctx, org.admin, "metro-ops", network="metro")
        with ctx.transaction() as s:
            acc.agency_by_name(s, AGENCY).network_id = acc.agency_by_name(s, "metro-ops").network_id
        org.add("aud", AGENCY, Role.AUDITOR)
        org.add("nora", "metro-ops", Role.NETWORK_OPERATOR)
        make_gallery(org)
        galleries.add_source(
            ctx,
            org.people["gus"],
            galleries.CreateSourceRequest(
                "bookings", "visitors", "visitor badges", "consent", "desk", "2026-10-01", 20
            ),
        )
        copy_first_images(tmp_path / "main", people[:8])
        copy_first_images(tmp_path / "visitors", people[8:10])
        ingest(ctx, org.people["gus"], IngestRequest(tmp_path / "main", "bookings", AGENCY))
        ingest(ctx, org.people["gus"], IngestRequest(tmp_path / "visitors", "bookings", "visitors"))
        org.set_policy(
            galleries=("bookings",),
            approval=ApprovalMode.LISTED,
            approval_offenses=("homicide",),
            daily_limit=50,
        )
    for day in range(DAYS):
        with time_machine.travel(START + timedelta(days=day, hours=2), tick=True):
            _live(org, people, day)
    yield org, people
    ctx.close()


def _live(org, people: list[Path], day: int) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = org.ctx
    offense = OFFENSES[day % len(OFFENSES)]
    who = "ivy" if day % 3 else "ian"
    result = org.search(
        ("bookings",),
        _probe(people[day % 8]),
        who=who,
        case_number=f"2026-{day:06d}",
        offense=offense,
    )
    if result.status == "pending":
        approve = day % 8 != 3
        search_service.decide_search(
            ctx, org.people["sam"], result.search_id, approve, "checked the case"
        )
    elif day % 4 == 1 and result.candidates:
        best = result.candidates[0].id
        review.review_candidate(
            ctx, org.people["ivy" if who == "ian" else "ian"], best, "possible_match", "same face"
        )
        review.review_candidate(ctx, org.people["sam"], best, "possible_match", "agree, same")
        review.record_outcome(ctx, org.people[who], result.search_id, "lead", "a real lead")
    if day % 5 == 2:
        org.search(
            ("bookings",),
            _probe(people[(day + 1) % 8]),
            who="nora",
            on_behalf_of=AGENCY,
            case_number=f"NET-{day:04d}",
        )
    if day == 9:
        org.add("ida", AGENCY, Role.INVESTIGATOR, by="head")
    if day in (7, 14, 21, 28):
        now = datetime.now(UTC)
        alerts.raise_alerts(ctx, now=now)
        opened = alerts.list_alerts(ctx, org.people["aud"], status="open")
        if opened and day != 28:
            alerts.close_alert(ctx, org.people["aud"], opened[-1].id, "looked into it, fine")
    if day == 18:
        request = ErasureRequest("REQ-10-18", "passport checked", False, _probe(people[7], 0))
        opened_erasure = approve_erasure(
            ctx,
            org.people["head"],
            open_erasure(ctx, org.people["gus"], request).id,
            "identity check seen on file",
        )
        decide_matches(
            ctx, org.people["gus"], opened_erasure.id, [m.id for m in opened_erasure.matches], []
        )
        try:
            complete_erasure(ctx, org.people["head"], opened_erasure.id)
        except StateError:  # faces of open cases: the head lets them go
            for hold in list_holds(ctx, org.people["head"]):
                decide_hold(ctx, org.people["head"], hold.id, True, "the case does not need it")
            complete_erasure(ctx, org.people["head"], opened_erasure.id)
    if day == 24:
        run_retention(ctx)  # the visitors' 20 days are over; open cases' faces are held
        for hold in list_holds(ctx, org.people["head"]):
            if hold.status == "pending":
                decide_hold(ctx, org.people["head"], hold.id, True, "retention may apply to it")
        run_retention(ctx)


def test_every_figure_of_the_month_is_the_stores(month) -> None:  # type: ignore[no-untyped-def]
    org, _people = month
    ctx: AppContext = org.ctx
    # October, as published once it is over (and it is: its year has gone by).
    since, until = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    assert since <= START and START + timedelta(days=DAYS) <= until
    report = transparency_report(ctx, agency=AGENCY, month="2026-10")
    digest = digests.show_digest(ctx, org.people["head"], AGENCY, since, until)

    with ctx.sessions() as s:
        county = s.scalar(select(User.agency_id).where(User.username == "ivy"))
        ours = (
            SearchRecord.agency_id == county,
            SearchRecord.created_at >= since,
            SearchRecord.created_at < until,
        )

        def grouped(column):  # type: ignore[no-untyped-def]
            rows = s.execute(
                select(column, func.count(SearchRecord.id))
                .join(User, User.id == SearchRecord.requester_id)
                .where(*ours)
                .group_by(column)
            ).all()
            return {k: v for k, v in rows}

        def count(*where) -> int:  # type: ignore[no-untyped-def]
            return int(s.scalar(select(func.count(SearchRecord.id)).where(*ours, *where)) or 0)

        by_user = grouped(User.username)
        by_offense = grouped(SearchRecord.offense)
        by_outcome = {(k or "open"): v for k, v in grouped(SearchRecord.outcome).items()}
        network = int(
            s.scalar(
                select(func.count(SearchRecord.id))
                .join(User, User.id == SearchRecord.requester_id)
                .where(*ours, User.agency_id != county)
            )
            or 0
        )
        new_accounts = int(
            s.scalar(
                select(func.count(User.id)).where(
                    User.agency_id == county, User.created_at >= since, User.created_at < until
                )
            )
            or 0
        )
        alert_rows = s.execute(
            select(AlertRow.rule, AlertRow.status, AlertRow.closed_at).where(
                AlertRow.agency_id == county
            )
        ).all()
        erasures = s.scalar(
            select(func.count(ErasureRow.id)).where(
                ErasureRow.status == "done", ErasureRow.completed_at < until
            )
        )
        pending = s.scalar(
            select(func.count(SearchRecord.id)).where(
                SearchRecord.agency_id == county, SearchRecord.status == "pending"
            )
        )
        raised_events = read_events(s, [AlertRaised], agencies=[AGENCY])

    # The report's figures, as published: a count from 1 to 4 hidden (and in a breakdown, one
    # that would give it away).
    assert report.searches == sum(by_user.values()) == DAYS + 6
    assert report.searches_by_offense == published_breakdown(by_offense)
    assert len(by_offense) == len(OFFENSES)
    assert report.searches_by_outcome == published_breakdown(by_outcome)
    assert by_outcome.get("lead", 0) >= 3
    assert report.leads == published(count(SearchRecord.outcome == "lead"))
    approved = count(SearchRecord.needs_approval, SearchRecord.status == "done")
    assert report.approvals == published(approved)
    denied = count(SearchRecord.status == "denied")
    assert report.denials == published(denied) and denied >= 1
    assert report.searchers == "<5" and len(by_user) == 3
    assert report.searches_by_network == network == 6
    assert report.new_accounts == published(new_accounts)
    rules: dict[str, int] = {}
    for rule, _, _ in alert_rows:
        rules[rule] = rules.get(rule, 0) + 1
    assert report.alerts_by_rule == published_breakdown(rules)
    assert report.alerts_raised == published(len(alert_rows)) and alert_rows
    closed = sum(1 for _, status, _ in alert_rows if status == "closed")
    assert report.alerts_closed == published(closed) and closed > 0
    assert report.erasures == "<5" and erasures == 1
    assert report.retention_purges == "<5"  # one: the visitors' source, only in the log

    # The month's page, with its charts, says the same.
    html = report_html(report)
    assert (
        html.count("<svg") >= 3 and f'<td>Searches</td><td class="n">{report.searches}</td>' in html
    )
    for offense, n in published_breakdown(by_offense).items():
        assert f"{offense}: {spelled(n)}" in html  # each bar, as its title and its label say

    # The digest's figures.
    assert digest.searches_by_user == by_user and digest.searches_by_offense == by_offense
    assert digest.network_searches == {"nora": network}
    assert published(digest.alerts_raised) == report.alerts_raised
    assert published(digest.alerts_closed) == report.alerts_closed
    assert digest.open_alerts == sum(1 for _, status, _ in alert_rows if status != "closed")
    assert digest.pending_approvals == pending
    assert sorted(digest.new_accounts) == sorted({"head", "sam", "ivy", "ian", "gus", "aud", "ida"})

    # The alerts are their events: one raise entry per stored alert, same rule.
    assert sorted(e.rule for e in raised_events) == sorted(r for r, _, _ in alert_rows)
    # Spread over the month, not one day.
    days = {datetime.fromisoformat(e.at).date() for e in raised_events}
    assert len(days) >= 2
