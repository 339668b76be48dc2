"""What waits for each person (issue 22: hand-offs): the counts beside each queue in the
navigation agree with the queue the person opens, follow the authority module's rules (never
one's own search to decide, never an alert about oneself, never one's own erasure request to
let run), fall as the work is done, and are read without an audit entry."""

from __future__ import annotations

from sqlalchemy import func, select

from facetrail.governance.credentials import Role
from facetrail.governance.policy import ApprovalMode
from facetrail.services import accounts as acc
from facetrail.services.accounts.account_approval import approve_account
from facetrail.services.accounts.agency_domains import register_domain
from facetrail.services.context import AppContext
from facetrail.services.oversight import alerts
from facetrail.services.rights.erasure import (
    ErasureRequest,
    approve_erasure,
    decide_matches,
    list_erasures,
    open_erasure,
)
from facetrail.services.searching import listings, review
from facetrail.services.searching.review_queue import review_queue
from facetrail.services.searching.search import ProbeImage, decide_search
from facetrail.services.waiting import Waiting, work_waiting
from facetrail.store.schema import AuditEntryRow, SearchCandidate
from tests.conftest import needs_lfw
from tests.mail import smtp
from tests.org import AGENCY, PASSWORD, Org
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]
pytestmark = needs_lfw

PEOPLE = ("head", "sam", "gus", "ivy", "ian", "aud")


def _counts(org: Org) -> dict[str, Waiting]:
    return {name: work_waiting(org.ctx, org.people[name]) for name in PEOPLE}


def _entries(ctx: AppContext) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count(AuditEntryRow.seq))) or 0)


def test_approvals_and_reviews_wait_for_the_right_people_and_match_their_queues(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    assert all(w == Waiting() for w in _counts(org).values())

    org.set_policy(approval=ApprovalMode.ALWAYS)
    asked = org.search(("bookings",), probe_of(people[1]))
    counts = _counts(org)
    # Both supervisors may decide it; ivy asked for it and may not; nobody else is asked.
    assert counts["sam"].approvals == counts["head"].approvals == 1
    assert counts["ivy"] == counts["ian"] == counts["gus"] == counts["aud"] == Waiting()
    assert len(listings.approval_queue(ctx, org.people["sam"])) == 1

    # Counting writes no entry: the queue it leads to is the audited read.
    before = _entries(ctx)
    work_waiting(ctx, org.people["sam"])
    assert _entries(ctx) == before

    decide_search(ctx, org.people["sam"], asked.search_id, True, "the lobby photo justifies it")
    counts = _counts(org)
    assert counts["sam"].approvals == counts["head"].approvals == 0
    for name in ("ivy", "ian", "sam", "head"):  # the agency's reviewers
        assert counts[name].reviews == len(review_queue(ctx, org.people[name])) == 1, name
    assert counts["gus"].reviews == counts["aud"].reviews == 0

    # A second search; ian then calls every candidate of the first: it no longer waits for
    # him (a second review, if the policy asks for one, is someone else's).
    shown = org.search(("bookings",), probe_of(people[2]), case_number="2026-000777")
    decide_search(ctx, org.people["head"], shown.search_id, True, "a second lobby photo")
    with ctx.sessions() as session:
        first = session.scalars(
            select(SearchCandidate.id).where(SearchCandidate.search_id == asked.search_id)
        ).all()
    assert first
    for candidate_id in first:
        review.review_candidate(ctx, org.people["ian"], candidate_id, "not_a_match", "not him")
    for name in ("ivy", "ian", "sam", "head"):
        queue = review_queue(ctx, org.people[name])
        assert work_waiting(ctx, org.people[name]).reviews == len(queue), name
    assert [w.search_id for w in review_queue(ctx, org.people["ian"])] == [shown.search_id]
    assert work_waiting(ctx, org.people["ian"]).reviews == 1


def test_alerts_wait_for_the_head_and_auditors_never_the_person_they_are_about(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    # ada heads the agency and searches too: the alerts about her searches are not hers.
    org.add("ada", AGENCY, Role.INVESTIGATOR, Role.AGENCY_HEAD)
    probe = probe_of(people[1])
    hers = {
        org.search(("bookings",), probe, who="ada", case_number=case).search_id
        for case in ("2026-000101", "2026-000202")  # a new case
    }
    alerts.raise_alerts(ctx)
    raised = alerts.list_alerts(ctx, org.people["head"])
    about_ada = [a for a in raised if a.user == "ada"]
    assert raised and about_ada
    counts = _counts(org)
    assert counts["head"].alerts == counts["aud"].alerts == len(raised)
    # Every alert here is over her searches, whomever it names (probe_cases names no one):
    # none waits for her.
    assert all(set(a.searches) <= hers for a in raised) and len(about_ada) < len(raised)
    assert work_waiting(ctx, org.people["ada"]).alerts == 0
    assert counts["ivy"].alerts == counts["sam"].alerts == counts["gus"].alerts == 0

    # Acknowledged: seen and being looked into, so it no longer waits.
    alerts.acknowledge_alert(ctx, org.people["aud"], raised[0].id, "looking into it with ada")
    assert work_waiting(ctx, org.people["head"]).alerts == len(raised) - 1


def test_erasure_steps_and_account_requests_wait_for_whoever_takes_the_next_step(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    photos = sorted(people[3].glob("*.jpg"))[:1]
    request = ErasureRequest(
        "REQ-2026-0042",
        "passport checked in person",
        False,
        tuple(ProbeImage(p.name, p.read_bytes()) for p in photos),
    )
    opened = open_erasure(ctx, org.people["gus"], request)
    counts = _counts(org)
    assert counts["head"].erasures == 1  # the head lets it run
    assert counts["gus"].erasures == 0  # the opener never does
    assert len(list_erasures(ctx, org.people["head"])) == 1

    approved = approve_erasure(ctx, org.people["head"], opened.id, "identity check seen")
    assert work_waiting(ctx, org.people["gus"]).erasures == 1  # gus decides the faces
    assert work_waiting(ctx, org.people["head"]).erasures == 0
    decide_matches(ctx, org.people["gus"], opened.id, [m.id for m in approved.matches], [])
    assert work_waiting(ctx, org.people["gus"]).erasures == 0
    assert work_waiting(ctx, org.people["head"]).erasures == 1  # the head confirms them

    # An account request waits for the supervisors and the head until each approved it.
    register_domain(ctx, org.people["head"], AGENCY, "county.example")
    account = acc.NewAccount("sid", "sid@county.example", PASSWORD, AGENCY, supervisor="sam")
    acc.request_account(ctx, account)
    counts = _counts(org)
    assert counts["sam"].accounts == counts["head"].accounts == 1
    assert counts["ivy"].accounts == counts["aud"].accounts == 0
    approve_account(ctx, org.people["sam"], "sid")
    assert work_waiting(ctx, org.people["sam"]).accounts == 0
    assert work_waiting(ctx, org.people["head"]).accounts == 1

    # A suspended account waits for nothing.
    acc.suspend_account(ctx, org.people["head"], "sam", "on leave")
    assert work_waiting(ctx, org.people["sam"]) == Waiting()
