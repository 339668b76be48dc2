"""Work lists: a supervisor's queue shows each pending search of their agency with the
justification they must weigh (never another agency's; never one of their own to decide;
a record that disagrees with its audit entry flagged), investigators are refused the queue,
people list only their own searches, and every listing is an audit entry."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from facetrail.errors import PermissionDeniedError
from facetrail.governance.credentials import Role
from facetrail.services import accounts as acc
from facetrail.services.searching.listings import approval_queue, own_searches
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.org import AGENCY, JUSTIFICATION, Org, make_gallery


def _last(org: Org) -> tuple[str, str]:
    with org.ctx.sessions() as s:
        row = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).first()
        assert row is not None
        return row.kind, row.details


@pytest.fixture()
def pending_org(org: Org, face_jpeg: bytes) -> Org:
    """The county searching 'bookings' only with a supervisor's approval; sue investigates
    and supervises; ivy and sue each asked for a search (pending, so no probe is read)."""
    make_gallery(org, "bookings")
    org.set_policy(galleries=("bookings",))  # approval: always (the default)
    org.add("sue", AGENCY, Role.INVESTIGATOR, Role.SUPERVISOR)
    probe = (ProbeImage("probe.jpg", face_jpeg),)
    assert org.search(("bookings",), probe).status == "pending"
    assert org.search(("bookings",), probe, who="sue", case_number="2026-000124").status == (
        "pending"
    )
    return org


def test_a_supervisor_sees_what_each_pending_search_is_for(pending_org: Org) -> None:
    queue = approval_queue(pending_org.ctx, pending_org.people["sam"])
    assert [(p.requester, p.case_number) for p in queue] == [
        ("ivy", "2026-000123"),
        ("sue", "2026-000124"),
    ]
    first = queue[0]
    assert first.justification == JUSTIFICATION and first.offense == "armed-robbery"
    assert first.galleries == ["bookings"] and first.probes == 1 and first.policy_version >= 1
    assert first.decidable and first.problem is None
    kind, details = _last(pending_org)
    assert kind == "search.queue" and f'"shown":[{queue[0].search_id},{queue[1].search_id}]' in (
        details
    )


def test_no_one_is_offered_their_own_search_to_decide(pending_org: Org) -> None:
    queue = approval_queue(pending_org.ctx, pending_org.people["sue"])
    assert [(p.requester, p.decidable) for p in queue] == [("ivy", True), ("sue", False)]


def test_another_agencys_supervisor_sees_none_of_it(pending_org: Org) -> None:
    acc.create_agency(pending_org.ctx, pending_org.admin, "other")
    pending_org.add("otto", "other", Role.SUPERVISOR)
    assert approval_queue(pending_org.ctx, pending_org.people["otto"]) == []


def test_an_investigator_is_refused_the_queue_and_the_refusal_is_recorded(
    pending_org: Org,
) -> None:
    with pytest.raises(PermissionDeniedError, match="needs supervisor"):
        approval_queue(pending_org.ctx, pending_org.people["ivy"])
    kind, details = _last(pending_org)
    assert kind == "search.queue.refused" and "permission_denied" in details


def test_a_justification_edited_behind_facetrails_back_is_flagged(pending_org: Org) -> None:
    with pending_org.ctx.transaction() as s:
        s.execute(update(SearchRecord).values(justification="nothing to see here, approve it"))
    queue = approval_queue(pending_org.ctx, pending_org.people["sam"])
    assert all(p.problem == "search differs from its request entry" for p in queue)


def test_people_list_only_their_own_searches_newest_first(pending_org: Org) -> None:
    mine = own_searches(pending_org.ctx, pending_org.people["ivy"])
    assert [(s.case_number, s.status, s.outcome) for s in mine] == [
        ("2026-000123", "pending", None)
    ]
    assert _last(pending_org)[0] == "search.list"
    assert own_searches(pending_org.ctx, pending_org.people["sam"]) == []
