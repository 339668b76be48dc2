"""Transparency reports (issue 14): a month of real activity (searches under three offenses,
approvals and denials, reviews, a lead, a network operator's search, new accounts, alerts raised
and closed, a recorded evaluation with and without masks) is reported once the month is over;
every figure is the count queried directly from the store, as published (1 to 4 hidden as
"<5", issue 22); the network's report sums its members and the HTML page holds its charts, and
no personal data."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from facetrail.errors import InvalidRequestError, NotFoundError
from facetrail.governance.policy import ApprovalMode
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries.evaluation import EvalRequest, evaluate_identification
from facetrail.services.oversight import alerts
from facetrail.services.oversight.published_accuracy import record_evaluation
from facetrail.services.oversight.report_formats import report_csv, report_html
from facetrail.services.oversight.reports import (
    access_table,
    published,
    published_breakdown,
    transparency_report,
)
from facetrail.services.searching import review
from facetrail.services.searching import search as search_service
from facetrail.store.schema import AlertRow, EvaluationRow, Review, SearchRecord, User
from tests.conftest import LFW, needs_lfw
from tests.mail import smtp
from tests.org import AGENCY
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]
pytestmark = needs_lfw


def _activity(org, people) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    """-> the evaluation figures recorded, by mask."""
    ctx: AppContext = org.ctx
    org.set_policy(approval=ApprovalMode.LISTED, approval_offenses=("homicide",))
    a = org.search(("bookings",), probe_of(people[1]), case_number="2026-000101")
    org.search(("bookings",), probe_of(people[1]), case_number="2026-000102", offense="arson")
    org.search(("bookings",), probe_of(people[2]), who="ian", case_number="2026-000103")
    pending = [
        org.search(
            ("bookings",), probe_of(people[3]), case_number=f"2026-00020{i}", offense="homicide"
        )
        for i in range(3)
    ]
    search_service.decide_search(
        ctx, org.people["sam"], pending[0].search_id, True, "justified by the case"
    )
    search_service.decide_search(
        ctx, org.people["sam"], pending[1].search_id, False, "no link to the case"
    )
    org.search(
        ("bookings",), probe_of(people[4]), who="nora", on_behalf_of=AGENCY, case_number="NET-0001"
    )
    best = a.candidates[0].id
    review.review_candidate(ctx, org.people["ivy"], best, "possible_match", "same ears")
    review.review_candidate(ctx, org.people["sam"], best, "possible_match", "agree: ears")
    review.record_outcome(ctx, org.people["ivy"], a.search_id, "lead", "matches a known suspect")
    alerts.raise_alerts(ctx)
    first = alerts.list_alerts(ctx, org.people["head"])[-1]
    alerts.close_alert(ctx, org.people["aud"], first.id, "looked at it: justified searches")
    recorded = {}
    for mask in ("none", "synthetic"):
        request = EvalRequest(LFW, "arcface-mbf", mask, 1, 40)  # type: ignore[arg-type]
        recorded[mask] = evaluate_identification(ctx, request).figures
        record_evaluation(ctx, org.people["gus"], recorded[mask])
    return recorded


def _this_month() -> tuple[str, datetime]:
    """This month (YYYY-MM), and a moment once it is over (when it may be reported)."""
    now = utc_now()
    return f"{now:%Y-%m}", (now.replace(day=1) + timedelta(days=32)).replace(day=1)


def test_every_figure_of_the_report_is_the_stores(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    measured = _activity(org, people)
    month, over = _this_month()
    report = transparency_report(ctx, agency=AGENCY, month=month, now=over)

    with ctx.sessions() as s:
        county_id = s.scalar(select(User.agency_id).where(User.username == "ivy"))
        ours = SearchRecord.agency_id == county_id

        def count(*where) -> int:  # type: ignore[no-untyped-def]
            return int(s.scalar(select(func.count(SearchRecord.id)).where(ours, *where)) or 0)

        by_offense = dict(
            s.execute(
                select(SearchRecord.offense, func.count())
                .where(ours)
                .group_by(SearchRecord.offense)
            ).all()
        )
        outcomes = dict(
            s.execute(
                select(func.coalesce(SearchRecord.outcome, "open"), func.count())
                .where(ours)
                .group_by(SearchRecord.outcome)
            ).all()
        )
        searchers = s.scalar(
            select(func.count(func.distinct(SearchRecord.requester_id))).where(ours)
        )
        by_network = int(
            s.scalar(
                select(func.count(SearchRecord.id))
                .join(User, User.id == SearchRecord.requester_id)
                .where(ours, User.agency_id != county_id)
            )
            or 0
        )
        people_now = s.scalar(select(func.count(User.id)).where(User.agency_id == county_id))
        raised = dict(
            s.execute(
                select(AlertRow.rule, func.count())
                .where(AlertRow.agency_id == county_id)
                .group_by(AlertRow.rule)
            ).all()
        )
        closed = s.scalar(
            select(func.count(AlertRow.id)).where(
                AlertRow.agency_id == county_id, AlertRow.status == "closed"
            )
        )
        reviews = s.scalar(select(func.count(Review.id)))
    assert report.searches == count() == 7
    assert report.searches_by_offense == published_breakdown(by_offense)
    assert report.searches_by_outcome == published_breakdown(outcomes)
    assert report.leads == published(count(SearchRecord.outcome == "lead"))
    approved = count(SearchRecord.needs_approval, SearchRecord.status == "done")
    assert report.approvals == published(approved)
    assert report.denials == "<5" and count(SearchRecord.status == "denied") == 1
    assert report.searchers == "<5" and searchers == 3
    assert report.searches_by_network == "<5" and by_network == 1
    assert people_now is not None and people_now >= 5  # each made this month
    assert report.new_accounts == people_now
    assert report.alerts_by_rule == published_breakdown(raised)
    assert report.alerts_raised == published(sum(raised.values()))
    assert report.alerts_closed == "<5" and closed == 1
    assert reviews == 2 and report.erasures == 0 and report.retention_purges == 0
    masks = {e.mask: e for e in report.evaluations}
    assert set(masks) == {"none", "synthetic"} and masks["none"].pack == "arcface-mbf"
    for mask, figures in measured.items():
        assert masks[mask].rank1 == figures["rank1"]
        assert masks[mask].fnir_at_fpir_1pc == figures["fnir_at_fpir"]["0.01"]["fnir"]
        assert masks[mask].groups["gender"].keys() == figures["groups"]["gender"].keys()

    # The network's report sums its members; the network's own agency ran none for itself.
    network = transparency_report(ctx, network="metro", month=month, now=over)
    assert network.agencies == ["county", "metro-ops"] and network.searches == report.searches
    alone = transparency_report(ctx, agency="metro-ops", month=month, now=over)
    assert alone.searches == 0 and alone.searches_by_network == 0
    # A month before any of it has nothing; the month still under way is not reported.
    empty = transparency_report(ctx, agency=AGENCY, now=utc_now())
    assert empty.searches == 0 and empty.alerts_raised == 0
    with pytest.raises(InvalidRequestError, match="not over yet"):
        transparency_report(ctx, agency=AGENCY, month=month)


def test_the_report_renders_as_csv_and_html_with_charts_and_no_personal_data(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    _activity(org, people)
    month, over = _this_month()
    report = transparency_report(ctx, agency=AGENCY, month=month, now=over)
    html = report_html(report, access_table(ctx))
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 4
    assert "Searches by offense" in html and "FNIR at FPIR 1 % by gender" in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "metro-ops" in html and "metro" in html  # every agency with access, and its network
    text = re.sub(r"<[^>]+>", " ", html)
    for name in ("ivy", "ian", "nora", "sam", "head", "aud", "2026-000101", "NET-0001"):
        word = re.compile(rf"\b{re.escape(name)}\b")
        assert not word.search(text) and not word.search(report_csv(report)), name
    csv_rows = report_csv(report).splitlines()
    assert csv_rows[0] == "figure,breakdown,value" and f"searches,,{report.searches}" in csv_rows
    assert "fewer than 5" in text and "searches_by_network,,<5" in csv_rows
    with pytest.raises(InvalidRequestError):
        transparency_report(ctx, month=month, now=over)
    with pytest.raises(NotFoundError):
        transparency_report(ctx, agency="nowhere", month=month, now=over)
    access = {a.agency: a for a in access_table(ctx)}
    assert access[AGENCY].network == "metro" and access["metro-ops"].since
    assert access["operators"].since and access["operators"].network is None


def test_published_accuracy_edited_in_the_database_fails_verification(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, _people = county
    ctx: AppContext = org.ctx
    figures = evaluate_identification(ctx, EvalRequest(LFW, "arcface-mbf", "none", 1, 20)).figures
    record_evaluation(ctx, org.people["gus"], figures)
    with ctx.sessions() as s:
        assert verify_log(s, audit.public_key(ctx)).ok
    with ctx.transaction() as s:  # an insider changes the published figure
        row = s.scalars(select(EvaluationRow)).one()
        body = json.loads(row.figures)
        body["rank1"] = min(1.0, body["rank1"] + 0.1) if body["rank1"] < 1.0 else 0.99
        row.figures = json.dumps(body)
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    assert not report.ok and "evaluations id" in (report.problem or "")
    # The public report shows the figure the log recorded, never the edited one (seen on
    # 7b69e17: it showed the edited rank-1).
    month, over = _this_month()
    shown = transparency_report(ctx, agency=AGENCY, month=month, now=over).evaluations
    assert [(e.mask, e.rank1) for e in shown] == [("none", figures["rank1"])]
