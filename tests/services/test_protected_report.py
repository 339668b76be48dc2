"""Face search near protected activity in the public report (issue 25): in one month the county
asks for crowd probes (photos of six LFW faces, a demonstration) held for approval, then
approved and run or denied, and, once its policy refuses them, refused (one by the network's
operator for it); it searches ordinary photos, and searches under offense categories it marks
as close to protected activity. The month's report shows the crowd probes step by step and
the marked searches, each equal to the count queried from the store, small counts as "<5";
the network's report sums its members, and the CSV, the HTML page, the web page and the API
say the same."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facetrail.errors import CrowdProbeError
from facetrail.server import create_app
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.oversight import policy as policy_service
from facetrail.services.oversight import reports
from facetrail.services.oversight.report_formats import report_csv, report_html
from facetrail.services.oversight.reports import (
    published,
    published_breakdown,
    transparency_report,
)
from facetrail.services.searching import search as search_service
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, SearchRecord, User
from tests.conftest import needs_lfw
from tests.crowd import composed_photo
from tests.mail import smtp
from tests.org import AGENCY
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]
pytestmark = needs_lfw

MARKED = ("unlawful-assembly", "arson")
REASON = "Set fire to a parked police car after the march had dispersed."


def _crowd(people: list[Path]) -> tuple[ProbeImage, ...]:
    """One photo of these six people (each by a photo the gallery does not hold): a crowd."""
    photos = [sorted(p.glob("*.jpg"))[1] for p in people]
    return (ProbeImage("demonstration.jpg", composed_photo(photos)),)


def _this_month() -> tuple[str, datetime]:
    """This month (YYYY-MM), and a moment once it is over (when it may be reported)."""
    now = utc_now()
    return f"{now:%Y-%m}", (now.replace(day=1) + timedelta(days=32)).replace(day=1)


def _month_near_protected_activity(org, people) -> None:  # type: ignore[no-untyped-def]
    """Three crowd probes held (two approved and run, one denied), two refused, three ordinary
    searches, six under marked offense categories (five of unlawful assembly, one of arson)."""
    ctx: AppContext = org.ctx
    crowd = _crowd(people)
    held = [
        org.search(("bookings",), crowd, case_number=f"2026-00090{i}", face=i) for i in range(3)
    ]
    assert all(h.status == "pending" for h in held)
    for h in held[:2]:
        search_service.decide_search(ctx, org.people["sam"], h.search_id, True, "the arson case")
    search_service.decide_search(
        ctx, org.people["sam"], held[2].search_id, False, "a crowd, not a suspect"
    )
    for i in range(3):
        org.search(("bookings",), probe_of(people[i]), case_number=f"2026-00091{i}")
    offenses = policy_service.show_policy(ctx, org.people["head"], AGENCY).policy.offenses
    org.set_policy(offenses=(*offenses, "unlawful-assembly"), protected_offenses=MARKED)
    for i in range(6):
        org.search(
            ("bookings",),
            probe_of(people[i]),
            case_number=f"2026-00092{i}",
            offense=MARKED[0] if i < 5 else MARKED[1],
            protected_reason=REASON,
        )
    org.set_policy(crowd_probes="refuse")
    for who, extra in (("ivy", {}), ("nora", {"on_behalf_of": AGENCY})):
        with pytest.raises(CrowdProbeError):
            org.search(("bookings",), crowd, who=who, case_number="2026-000930", **extra)


def _from_the_store(ctx: AppContext) -> tuple[dict[str, int], dict[str, int]]:
    """The crowd probes' steps and the marked searches by offense, queried directly: the
    refusals and the crowd probes from the log's entries, the decisions and runs from the
    stored searches, the marked searches by their offense."""
    with ctx.sessions() as s:
        county_id = s.scalar(select(User.agency_id).where(User.username == "ivy"))
        refusals = s.scalars(
            select(AuditEntryRow.details).where(
                AuditEntryRow.kind == "search.refused", AuditEntryRow.agency == AGENCY
            )
        ).all()
        asked = s.execute(
            select(AuditEntryRow.subject, AuditEntryRow.details).where(
                AuditEntryRow.kind == "search.request", AuditEntryRow.agency == AGENCY
            )
        ).all()
        crowd_ids = [
            int(subject.removeprefix("search:"))
            for subject, details in asked
            if json.loads(details)["crowd"]
        ]
        crowd = SearchRecord.id.in_(crowd_ids)

        def count(*where) -> int:  # type: ignore[no-untyped-def]
            return int(s.scalar(select(func.count(SearchRecord.id)).where(crowd, *where)) or 0)

        steps = {
            "refused": sum(1 for d in refusals if json.loads(d)["code"] == "crowd_probe"),
            "held": count(SearchRecord.needs_approval),
            "approved": count(
                SearchRecord.decided_by.is_not(None), SearchRecord.status != "denied"
            ),
            "denied": count(SearchRecord.status == "denied"),
            "run": count(SearchRecord.status == "done"),
        }
        marked = dict(
            s.execute(
                select(SearchRecord.offense, func.count())
                .where(SearchRecord.agency_id == county_id, SearchRecord.offense.in_(MARKED))
                .group_by(SearchRecord.offense)
            ).all()
        )
    return steps, marked


def test_the_months_report_shows_crowd_probes_and_marked_offenses_as_the_store(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    _month_near_protected_activity(org, people)
    month, over = _this_month()
    report = transparency_report(ctx, agency=AGENCY, month=month, now=over)
    steps, marked = _from_the_store(ctx)

    assert steps == {"refused": 2, "held": 3, "approved": 2, "denied": 1, "run": 2}
    assert marked == {"unlawful-assembly": 5, "arson": 1}
    # Published: each step alone, 1 to 4 as "<5"; the marked searches' total as it is, and its
    # breakdown with the five withheld (six less five would give the one arson away).
    assert report.crowd_probes == {k: published(n) for k, n in steps.items()}
    assert list(report.crowd_probes) == ["refused", "held", "approved", "denied", "run"]
    assert set(report.crowd_probes.values()) == {"<5"}
    assert report.protected_searches == sum(marked.values()) == 6
    assert report.protected_by_offense == published_breakdown(marked)
    assert report.protected_by_offense == {"arson": "<5", "unlawful-assembly": ">=5"}
    assert report.searches == 3 + 3 + 6  # the refused probes were never searches
    # Before they were hidden, the counts were the store's exactly.
    since, until = reports.report_month(month, over)
    with ctx.sessions() as s:
        counted = reports._counted(s, AGENCY, None, since, until)
    assert counted.crowd_probes == steps and counted.protected_by_offense == marked

    # The network's report sums its members; its own agency asked for none.
    network = transparency_report(ctx, network="metro", month=month, now=over)
    assert network.crowd_probes == report.crowd_probes
    assert network.protected_by_offense == report.protected_by_offense
    alone = transparency_report(ctx, agency="metro-ops", month=month, now=over)
    assert set(alone.crowd_probes.values()) == {0} and alone.protected_searches == 0

    csv_rows = report_csv(report).splitlines()
    assert "crowd_probes,refused,<5" in csv_rows and "protected_searches,,6" in csv_rows
    assert "protected_by_offense,unlawful-assembly,>=5" in csv_rows
    text = re.sub(r"<[^>]+>", " ", report_html(report))
    assert "Crowd probes refused by the policy" in text and "of them under arson" in text
    assert "2026-000920" not in text and "police car" not in text


def test_the_web_page_and_the_api_show_the_same_figures(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    _month_near_protected_activity(org, people)
    public = TestClient(create_app(ctx=org.ctx), raise_server_exceptions=False)
    _month, over = _this_month()
    with time_machine.travel(over + timedelta(hours=1)):  # the default: the last month over
        page = public.get("/transparency", params={"scope": "agency:county"})
        answer = public.get("/api/v1/reports/transparency", params={"agency": AGENCY})
    assert page.status_code == 200 and answer.status_code == 200
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>", page.text))
    assert rows["Crowd probes held for a supervisor&#39;s approval"] == "fewer than 5"
    assert rows["  of them run"] == "fewer than 5"
    assert rows["Searches under offense categories marked as close to protected activity"] == "6"
    assert rows["  of them under unlawful-assembly"] == "5 or more"
    body = answer.json()
    assert body["crowd_probes"] == dict.fromkeys(
        ("refused", "held", "approved", "denied", "run"), "<5"
    )
    assert body["protected_searches"] == 6
    assert body["protected_by_offense"] == {"arson": "<5", "unlawful-assembly": ">=5"}
