"""A case from policy to disclosure, typed by the people of one agency: the head opens a
gallery under prior approval, an investigator asks, a supervisor approves, two people review
blind, the investigator records a lead, the case is disclosed and the audit log still verifies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from facetrail.cli.searches import Decision, Outcome
from facetrail.services.searching import review
from tests.cli.terminal import CASE, Terminal, first_photos, lfw_people, second_photo
from tests.conftest import needs_lfw

AGENCY = "county"


def test_cli_choices_are_the_services() -> None:
    assert get_args(Decision) == review.DECISIONS and get_args(Outcome) == review.OUTCOMES


@needs_lfw
def test_case_from_policy_to_disclosure(term: Terminal, tmp_path: Path) -> None:
    people = lfw_people(4)
    term.init()
    term("agency", "create", AGENCY)
    term.account("hana", AGENCY, "agency_head", "supervisor")
    term.account("sam", AGENCY, "supervisor")
    term.account("ivy", AGENCY, "investigator")
    term.gallery(first_photos(tmp_path / "in", people))

    term.login("hana")
    reason = "bookings for serious cases, with approval"
    term("policy", "set", AGENCY, "--gallery", "g", "--approval", "always", "--reason", reason)
    shown: Any = term.json("policy", "show")
    assert shown["version"] == 2 and shown["policy"]["galleries"] == ["g"]
    assert shown["policy"]["approval"] == "always" and shown["policy"]["second_reviewer"]
    assert "galleries added: g" in shown["weakened"]
    assert "RELAXED" in term("inbox")  # the head is told what the change relaxed

    term.login("ivy")
    pending = term.search(second_photo(people[2]), top="3")
    assert "pending" in pending and "supervisor" in pending
    search_id = int(pending.split("search ", 1)[1].split(":", 1)[0])
    assert "permission_denied" in term("searches", "pending", code=2)

    term.login("sam")
    waiting: Any = term.json("searches", "pending")
    assert [s["search_id"] for s in waiting] == [search_id] and waiting[0]["decidable"]
    term("searches", "approve", str(search_id), "--note", "serious case, justified")

    term.login("ivy")
    crops = tmp_path / "crops"
    result: Any = term.json("searches", "show", str(search_id), "--crops", str(crops))
    assert result["status"] == "done" and len(result["candidates"]) == 3
    best = result["candidates"][0]
    assert best["image_name"].startswith(people[2].name)
    assert Path(best["crop_path"]).read_bytes()[:2] == b"\xff\xd8"
    term("searches", "image", str(best["id"]), "--out", str(tmp_path / "source.jpg"))
    assert (tmp_path / "source.jpg").read_bytes() == (people[2] / best["image_name"]).read_bytes()
    note = "same scar above the left eye"
    cand = str(best["id"])
    term("searches", "review", cand, "--decision", "possible_match", "--note", note)
    early = term("searches", "outcome", str(search_id), "lead", "--note", "one review", code=2)
    assert "review_refused" in early  # a lead needs the second, independent review
    asked = term("searches", "ask-review", str(search_id), "sam")
    assert f"sam is asked for the second review of search {search_id}" in asked

    term.login("sam")
    assert f"second review asked: search {search_id}" in term("inbox")
    queue: Any = term.json("searches", "waiting")
    assert [(w["search_id"], w["second_reviews"]) for w in queue] == [(search_id, 1)]
    blind: Any = term.json("searches", "show", str(search_id))
    assert blind["candidates"][0]["reviews"] == []  # ivy's call stays hidden from sam
    term("searches", "review", cand, "--decision", "possible_match", "--note", "agree, same ear")
    both: Any = term.json("searches", "show", str(search_id))
    assert [r["reviewer"] for r in both["candidates"][0]["reviews"]] == ["ivy", "sam"]

    term.login("ivy")
    closed = term("searches", "outcome", str(search_id), "lead", "--note", "two reviews agree")
    assert f"confirmed candidates: {cand}" in closed and "never an identification" in closed
    exported = json.loads(term("searches", "export", str(search_id)))
    assert exported["outcome"] == "lead" and exported["audit_entry"] > 0

    term("case", "disclose", CASE, "--out", str(tmp_path / "case.json"))
    disclosure = json.loads((tmp_path / "case.json").read_text())
    (done,) = disclosure["searches"]
    assert done["decided_by"] == "sam" and done["outcome"] == "lead"
    assert [r["reviewer"] for r in done["reviews"]] == ["ivy", "sam"]
    kinds = {e["kind"] for e in done["audit_entries"]}
    assert {"search.request", "search.approve", "search.run", "review.record"} <= kinds
    assert {"search.view", "search.source_view", "search.export", "search.outcome"} <= kinds
    printed = term("case", "disclose", CASE, "--out", str(tmp_path / "case.pdf"))
    assert "written to" in printed and (tmp_path / "case.pdf").read_bytes().startswith(b"%PDF-")
    assert json.loads(term("audit", "verify", "--json"))["ok"] is True
