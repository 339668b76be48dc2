"""Leadership visibility (issue 14): the head sees every person and every search of the
agency, a network operator's searches for it among them with who ran them; the digest goes to
the head by SMTP and inbox once per period, its figures those of the store; the network's own
agency counts none of the searches it ran for a member."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from facetrail.errors import NotFoundError
from facetrail.services.audit import audit_entries
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.notifications import inbox
from facetrail.services.oversight import digests
from facetrail.services.oversight.agency import agency_oversight
from facetrail.services.searching import review
from facetrail.store.schema import AuditEntryRow, SearchRecord, User
from tests.conftest import needs_lfw
from tests.mail import smtp
from tests.org import AGENCY
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]
pytestmark = needs_lfw


def _work(org, people):  # type: ignore[no-untyped-def]
    """ivy twice, ian once, nora (the network's operator) once for the county; ivy reviews."""
    ivy_1 = org.search(("bookings",), probe_of(people[1]), case_number="2026-000101")
    org.search(("bookings",), probe_of(people[2]), case_number="2026-000102", offense="arson")
    org.search(("bookings",), probe_of(people[3]), case_number="2026-000103", who="ian")
    nora = org.search(
        ("bookings",), probe_of(people[4]), who="nora", on_behalf_of=AGENCY, case_number="N-77"
    )
    review.review_candidate(
        org.ctx, org.people["ivy"], ivy_1.candidates[0].id, "possible_match", "same scar"
    )
    return ivy_1, nora


def test_the_head_sees_every_person_and_search_including_the_networks(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    ivy_1, nora = _work(org, people)
    view = agency_oversight(ctx, org.people["head"])
    assert view.agency == AGENCY and view.network == "metro"
    people_seen = {p.username: p for p in view.people}
    assert set(people_seen) == {"head", "sam", "gus", "ivy", "ian", "aud"}
    assert (people_seen["ivy"].searches, people_seen["ian"].searches) == (2, 1)
    assert people_seen["ivy"].roles == ["investigator"] and people_seen["ivy"].status == "active"
    assert people_seen["ivy"].approved_by == "root" and people_seen["ivy"].last_activity
    (operator,) = view.network_people
    assert (operator.username, operator.agency, operator.searches) == ("nora", "metro-ops", 1)
    assert view.searches_total == 4
    shown = {s.id: s for s in view.searches}
    assert shown[nora.search_id].via_network and shown[nora.search_id].requester == "nora"
    assert shown[nora.search_id].requester_agency == "metro-ops"
    assert shown[ivy_1.search_id].reviewers == ["ivy"] and not shown[ivy_1.search_id].via_network
    assert [s.id for s in view.searches] == sorted(shown, reverse=True)  # newest first

    # The network's own agency does not count the search it ran for the county.
    network_view = agency_oversight(ctx, org.admin, "metro-ops")
    assert network_view.searches_total == 0 and network_view.network_people == []
    with pytest.raises(NotFoundError):
        agency_oversight(ctx, org.people["ivy"])
    with pytest.raises(NotFoundError):
        agency_oversight(ctx, org.people["nora"], AGENCY)  # operators search, heads oversee
    with ctx.sessions() as s:
        kinds = set(s.scalars(select(AuditEntryRow.kind)))
    assert {"oversight.view", "oversight.view.refused"} <= kinds


def test_the_digest_goes_to_the_head_once_per_period_with_the_stores_figures(county) -> None:  # type: ignore[no-untyped-def]
    org, box, people = county
    ctx: AppContext = org.ctx
    org.set_policy(digest="daily")
    start = utc_now()
    _work(org, people)
    tomorrow = utc_now() + timedelta(days=1)
    sent = {d.agency: d for d in digests.send_due_digests(ctx, now=tomorrow)}
    digest = sent[AGENCY]
    with ctx.sessions() as s:
        county_id = s.scalar(select(User.agency_id).where(User.username == "ivy"))
        by_user = dict(
            s.execute(
                select(User.username, func.count(SearchRecord.id))
                .join(User, User.id == SearchRecord.requester_id)
                .where(SearchRecord.agency_id == county_id, SearchRecord.created_at >= start)
                .group_by(User.username)
            ).all()
        )
        by_offense = dict(
            s.execute(
                select(SearchRecord.offense, func.count(SearchRecord.id))
                .where(SearchRecord.agency_id == county_id, SearchRecord.created_at >= start)
                .group_by(SearchRecord.offense)
            ).all()
        )
    assert digest.searches_by_user == by_user == {"ivy": 2, "ian": 1, "nora": 1}
    assert digest.searches_by_offense == by_offense
    assert digest.network_searches == {"nora": 1} and digest.searches == 4
    assert sent["metro-ops"].searches == 0  # the network's figures leave the county's out
    assert "run for you by your network's operators: nora 1" in digest.text()
    subject = f"daily digest: {AGENCY}"
    assert any(m.subject.startswith(subject) for m in inbox(ctx, org.people["head"].user_id))
    assert any(
        subject in m["Subject"] and m["To"] == f"head@{AGENCY}.example" for m in box.messages
    )
    assert digests.send_due_digests(ctx, now=tomorrow) == []  # once per period
    # Any period on request, by the head; the same figures.
    asked = digests.show_digest(
        ctx,
        org.people["head"],
        AGENCY,
        tomorrow - timedelta(days=1, hours=tomorrow.hour + 1),
        tomorrow,
    )
    assert asked.searches_by_user == by_user
    with pytest.raises(NotFoundError):
        digests.show_digest(ctx, org.people["ivy"], AGENCY, start, tomorrow)


def test_the_head_reads_the_log_entries_of_the_networks_search_for_the_agency(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    _, nora = _work(org, people)
    found = audit_entries.list_entries(
        ctx, org.people["head"], audit_entries.AuditEntryQuery(kind="search.request")
    )
    by_nora = [e for e in found if e.actor == "nora"]
    assert [e.subject for e in by_nora] == [f"search:{nora.search_id}"]
    assert by_nora[0].agency == AGENCY
    # metro-ops' own people's entries stay theirs: nora's sign-in is not the county's.
    signins = audit_entries.list_entries(
        ctx, org.people["head"], audit_entries.AuditEntryQuery(actor="nora")
    )
    # (with the row.seal entries of the search's own rows, which concern the county too)
    assert {e.kind for e in signins} - {"row.seal"} == {"search.request", "search.run"}
