"""Searches and cases listed with filters: an agency's people who may open its searches list
them all, anyone else their own; cases as far as the viewer may disclose them; another
agency's never; the approval queue names the probe photos; every listing and every refusal
(a bad filter included) is an audit entry."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from facetrail.errors import InvalidRequestError, PermissionDeniedError
from facetrail.governance.credentials import Role
from facetrail.services import accounts as acc
from facetrail.services.searching.listings import (
    SearchQuery,
    approval_queue,
    find_searches,
    list_cases,
    own_searches,
)
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow
from tests.org import CASE, Org, make_gallery

OTHER_CASE = "2026-000777"


def _last(org: Org) -> tuple[str, dict[str, object]]:
    with org.ctx.sessions() as s:
        row = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).first()
        assert row is not None
        return row.kind, json.loads(row.details)


@pytest.fixture()
def searched(org: Org, face_jpeg: bytes) -> Org:
    """ivy asked for a search in CASE, ian for one in OTHER_CASE (pending approval); the
    'other' agency's otto, an investigator and supervisor, for one in CASE too."""
    make_gallery(org, "bookings")
    org.set_policy(galleries=("bookings",))
    acc.create_agency(org.ctx, org.admin, "other")
    org.add("otto", "other", Role.INVESTIGATOR, Role.SUPERVISOR)
    org.set_policy("other", by="root", galleries=("bookings",))
    probe = (ProbeImage("lobby.jpg", face_jpeg),)
    org.search(("bookings",), probe)
    org.search(("bookings",), probe, who="ian", case_number=OTHER_CASE)
    org.search(("bookings",), probe, who="otto")
    return org


def test_an_agencys_searches_by_filter_never_another_agencys(searched: Org) -> None:
    ivy = searched.people["ivy"]
    every = find_searches(searched.ctx, ivy, SearchQuery())
    assert [(s.requester, s.case_number) for s in every] == [("ian", OTHER_CASE), ("ivy", CASE)]
    kind, details = _last(searched)
    assert kind == "search.list" and details["shown"] == [s.search_id for s in every]
    assert find_searches(searched.ctx, ivy, SearchQuery(mine=True)) == every[1:]
    assert own_searches(searched.ctx, ivy) == every[1:]
    assert find_searches(searched.ctx, ivy, SearchQuery(case_number=OTHER_CASE)) == every[:1]
    assert find_searches(searched.ctx, ivy, SearchQuery(status="done")) == []
    assert find_searches(searched.ctx, ivy, SearchQuery(until="2000-01-01")) == []
    day = every[0].requested_at[:10]
    assert find_searches(searched.ctx, ivy, SearchQuery(since=day, until=day)) == every
    otto = find_searches(searched.ctx, searched.people["otto"], SearchQuery())
    assert [s.requester for s in otto] == ["otto"]


def test_refusals_of_search_listings_are_recorded(searched: Org) -> None:
    with pytest.raises(PermissionDeniedError, match="you may list your own"):
        find_searches(searched.ctx, searched.people["gus"], SearchQuery())  # a gallery admin
    kind, details = _last(searched)
    assert kind == "search.list.refused" and details["code"] == "permission_denied"
    assert find_searches(searched.ctx, searched.people["gus"], SearchQuery(mine=True)) == []
    for bad in (SearchQuery(status="bogus"), SearchQuery(since="last week"), SearchQuery(limit=0)):
        with pytest.raises(InvalidRequestError):
            find_searches(searched.ctx, searched.people["ivy"], bad)
        assert _last(searched)[0] == "search.list.refused"


def test_cases_as_far_as_the_viewer_may_disclose_them(searched: Org) -> None:
    cases = list_cases(searched.ctx, searched.people["sam"])
    assert sorted((c.case_number, c.searches, c.pending, c.leads) for c in cases) == [
        (CASE, 1, 1, 0),  # otto's search in the same case number is the other agency's
        (OTHER_CASE, 1, 1, 0),
    ]
    assert _last(searched) == ("case.list", {"shown": [c.case_number for c in cases]})
    assert [c.case_number for c in list_cases(searched.ctx, searched.people["ivy"])] == [CASE]
    assert list_cases(searched.ctx, searched.people["gus"]) == []
    (theirs,) = list_cases(searched.ctx, searched.people["otto"])
    assert (theirs.case_number, theirs.searches) == (CASE, 1)


def test_the_approval_queue_names_the_probe_photos(searched: Org) -> None:
    queue = approval_queue(searched.ctx, searched.people["sam"])
    assert [(p.requester, p.probes, p.probe_names) for p in queue] == [
        ("ivy", 1, ["lobby.jpg"]),
        ("ian", 1, ["lobby.jpg"]),
    ]
