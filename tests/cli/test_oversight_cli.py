"""Oversight through the real CLI (issue 14): a head turns a rule's setting in the policy, an
investigator searches one photo under two cases, the head runs the rules and sees the alerts,
the agency's people and searches and the digest; the auditor acknowledges and closes with a
note and imports the open-case list; an investigator sees none of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import time_machine

from tests.cli.terminal import Terminal, first_photos, lfw_people, second_photo
from tests.conftest import needs_lfw

AGENCY = "county"


@needs_lfw
def test_alerts_oversight_and_digest_from_the_command_line(term: Terminal, tmp_path: Path) -> None:
    people = lfw_people(3)
    term.init()
    term("agency", "create", AGENCY)
    term.account("hana", AGENCY, "agency_head", "supervisor")
    term.account("aud", AGENCY, "auditor")
    term.account("ivy", AGENCY, "investigator")
    term.gallery(first_photos(tmp_path / "in", people))

    term.login("hana")
    reason = "open the bookings gallery, alert sooner on stale searches"
    term(
        "policy",
        "set",
        AGENCY,
        "--gallery",
        "g",
        "--approval",
        "never",
        "--digest",
        "daily",
        "--alert",
        "stale_days=7",
        "--alert",
        "disabled=trial",
        "--reason",
        reason,
    )
    # It relaxes the county's oversight: in force once someone outside hana's say-so confirms.
    assert term.json("policy", "show")["version"] == 1  # type: ignore[index]
    waiting: Any = term.json("policy", "relaxations", AGENCY, "--status", "pending")
    term.login("root")
    term("policy", "confirm", str(waiting[0]["id"]), "--note", "agreed with the county")
    term.login("hana")
    policy: Any = term.json("policy", "show")
    assert policy["policy"]["digest"] == "daily"
    assert policy["policy"]["alerts"]["stale_days"] == 7
    assert policy["policy"]["alerts"]["disabled"] == ["trial"]
    assert "alert rules turned off: trial" in policy["weakened"]
    assert "invalid_request" in term(
        "policy", "set", AGENCY, "--alert", "disabled=gut", "--reason", reason, code=2
    )

    term.login("ivy")
    photo = second_photo(people[1])
    term.search(photo, case="2026-000101")
    term.search(photo, case="2026-000202")
    assert "not_found" in term("alerts", "list", code=2)
    assert "not_found" in term("oversight", "show", code=2)

    term.login("hana")
    raised: Any = term.json("alerts", "run")
    assert len(raised["raised"]) == 2
    listed: Any = term.json("alerts", "list")
    assert {a["rule"] for a in listed} == {"probe_cases", "person_cases"}
    assert "probe_cases" in term("alerts", "list")
    view: Any = term.json("oversight", "show")
    assert view["searches_total"] == 2
    assert {p["username"]: p["searches"] for p in view["people"]}["ivy"] == 2
    assert "2026-000202" in term("oversight", "show")
    digest: Any = term.json("oversight", "digest")
    assert digest["searches_by_user"] == {"ivy": 2} and digest["alerts_raised"] == 2
    assert "Searches: 2" in term("oversight", "digest")
    assert "permission_denied" in term("oversight", "run", code=2)  # a system admin's

    term.login("aud")
    first = listed[-1]["id"]
    assert "invalid_request" in term("alerts", "ack", str(first), "--note", "ok", code=2)
    term("alerts", "ack", str(first), "--note", "asked ivy about both cases")
    closed: Any = term.json("alerts", "close", str(first), "--note", "two robberies, same man")
    assert closed["status"] == "closed" and closed["closed_by"] == "aud"
    cases = tmp_path / "open.csv"
    cases.write_text("case_number\n2026-000101\n2026-000303\n", encoding="utf-8")
    imported: Any = term.json("alerts", "import-cases", AGENCY, str(cases))
    assert imported["open_cases"] == 2
    again: Any = term.json("alerts", "run")
    assert len(again["raised"]) == 1  # 2026-000202 is not an open case
    assert term.json("alerts", "list", "--status", "closed")[0]["id"] == first  # type: ignore[index]

    term.login("root")
    ran: Any = term.json("oversight", "run")
    assert ran["alerts_raised"] == {}

    # Public: no sign-in needed, no personal data; a month once it is over, small counts hidden.
    term("logout")
    now = datetime.now(UTC)
    month, over = f"{now:%Y-%m}", (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert "invalid_request" in term(
        "report", "transparency", "--agency", AGENCY, "--month", month, code=2
    )
    page = tmp_path / "report.html"
    with time_machine.travel(over + timedelta(hours=1)):  # the default: the last month over
        report: Any = json.loads(term("report", "transparency", "--agency", AGENCY))
        term("report", "transparency", "--agency", AGENCY, "--format", "html", "--out", str(page))
        csv_text = term("report", "transparency", "--agency", AGENCY, "--format", "csv")
    assert report["month"] == month and report["searches"] == "<5"  # two
    assert report["alerts_raised"] == "<5" and report["denials"] == 0
    assert report["searches_by_offense"] == {"armed-robbery": "<5"}
    assert page.read_text().count("<svg") >= 2
    assert "searches,,<5" in csv_text.splitlines()
    agencies: Any = term.json("report", "agencies")
    assert [a["agency"] for a in agencies] == ["county", "facetrail operators"]
    assert all(a["since"] for a in agencies)
    assert "not_found" in term("report", "transparency", "--agency", "nowhere", code=2)
