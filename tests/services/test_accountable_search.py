"""Accountable searching end to end, as the people involved act (issue 2/6): access requested
and approved, the head told by real SMTP, TOTP sign-in, searches refused by policy before any
probe is looked at, a search pending until a supervisor approves it, stored results, blind
two-person review, a lead, the case disclosure, and an audit log that still verifies."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from facetrail.config import Settings
from facetrail.errors import (
    AccountInactiveError,
    AuthError,
    CaseNumberError,
    DailyLimitError,
    GalleryNotAllowedError,
    JustificationError,
    NotFoundError,
    OffenseNotAllowedError,
    PermissionDeniedError,
    ReviewError,
    StateError,
)
from facetrail.governance.credentials import Role
from facetrail.governance.policy import ApprovalMode
from facetrail.governance.verify import verify_log
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.accounts.account_approval import approve_account
from facetrail.services.accounts.agency_domains import register_domain
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.notifications import inbox
from facetrail.services.searching import results, review
from facetrail.services.searching import search as svc
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.mail import Mailbox, smtp
from tests.org import AGENCY, CASE, PASSWORD, make_county, make_gallery

__all__ = ["smtp"]
pytestmark = needs_lfw


def _kinds(ctx: AppContext) -> list[str]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow.kind)
                .where(AuditEntryRow.kind != "row.seal")
                .order_by(AuditEntryRow.seq)
            )
        )


def _searches(ctx: AppContext) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count(SearchRecord.id))) or 0)


@pytest.fixture()
def world(tmp_path: Path, smtp: tuple[Mailbox, int]):  # type: ignore[no-untyped-def]
    """A county with a head, a supervisor, a gallery admin and a second investigator; a
    'bookings' gallery of six LFW people and a 'dmv' gallery the county may not search."""
    box, port = smtp
    ctx = AppContext.open(
        Settings(
            home=tmp_path / "home",
            threads=1,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from="facetrail@county.test",
        )
    )
    org = make_county(ctx)
    org.add("gus", AGENCY, Role.GALLERY_ADMIN)
    org.add("ian", AGENCY, Role.INVESTIGATOR, by="head")
    people = lfw_people(6)
    photos = tmp_path / "photos"
    copy_first_images(photos, people)
    for name in ("bookings", "dmv"):
        make_gallery(org, name)
        ingest(ctx, org.people["gus"], IngestRequest(photos, name, "county", workers=1))
    yield org, box, people
    ctx.close()


def test_request_to_lead_to_disclosure(world) -> None:  # type: ignore[no-untyped-def]
    org, box, people = world
    ctx: AppContext = org.ctx
    org.set_policy(
        galleries=("bookings",),
        approval=ApprovalMode.LISTED,
        approval_offenses=("homicide",),
        daily_limit=2,
        trial_days=30,
    )

    # 1. Ivy asks for a trial account naming Sam, from the county's mail domain; nothing
    # works until the head (or Sam and another supervisor) approves.
    register_domain(ctx, org.people["head"], AGENCY, "county.gov")
    org.enrolments["ivy"] = acc.request_account(
        ctx,
        NewAccount(
            "ivy", "ivy@county.gov", PASSWORD, AGENCY, account_type="trial", supervisor="sam"
        ),
    )
    with pytest.raises(AuthError) as waiting:  # said as for a name no account holds
        org.login("ivy")
    assert waiting.value.code == "auth_failed"
    approve_account(ctx, org.people["sam"], "ivy")  # one supervisor alone is not enough
    with pytest.raises(AuthError):
        org.login("ivy")
    approve_account(ctx, org.people["head"], "ivy")
    # 2. The head was told of both, by real SMTP and in the inbox.
    subjects = [m["Subject"] for m in box.messages if m["To"] == "head@county.example"]
    assert "[facetrail] account request: ivy" in subjects
    assert "[facetrail] account approved: ivy" in subjects
    assert "account approved: ivy" in [m.subject for m in inbox(ctx, org.people["head"].user_id)]
    # 3. Ivy signs in with password + TOTP.
    ivy = org.login("ivy")
    assert ivy.has(Role.INVESTIGATOR)

    probe_path = sorted(people[2].glob("*.jpg"))[1]
    probe = (ProbeImage(probe_path.name, probe_path.read_bytes()),)
    # Policy is checked before the probe is processed: these bytes are not even an image.
    junk = (ProbeImage("junk.jpg", b"not an image at all"),)

    # 4. Refusals, each typed, each on the record, none stored as a search.
    with pytest.raises(CaseNumberError, match="case number is required"):
        org.search(("bookings",), junk, case_number="")
    # The rule said in words, never as a regular expression (it was "[A-Z0-9][A-Z0-9-]{3,39}").
    with pytest.raises(CaseNumberError, match="a capital letter or a digit, then 3 to 39") as bad:
        org.search(("bookings",), junk, case_number="my friend")
    assert "[" not in bad.value.message and "{" not in bad.value.message
    with pytest.raises(OffenseNotAllowedError, match="shoplifting"):
        org.search(("bookings",), junk, offense="shoplifting")
    with pytest.raises(JustificationError):
        org.search(("bookings",), junk, justification="because")
    with pytest.raises(GalleryNotAllowedError, match="dmv"):
        org.search(("bookings", "dmv"), junk)
    assert _searches(ctx) == 0
    # Two searches without prior approval (armed robbery is not a listed category) ...
    first = org.search(("bookings",), probe)
    assert first.status == "done" and first.candidates
    org.search(("bookings",), probe)
    # ... and the third in 24 hours is over the daily limit.
    with pytest.raises(DailyLimitError):
        org.search(("bookings",), probe)
    # After the trial has expired, no search at all (checked at search time, not only login).
    with ctx.sessions() as s:
        user = acc.user_by_name(s, "ivy")
        expiry = acc.as_utc(user.trial_expires_at)
    assert expiry is not None
    with pytest.raises(AccountInactiveError, match="trial expired"):
        svc.search(
            ctx,
            svc.SearchRequest(
                ivy, CASE, "armed-robbery", "x" * 40, ("bookings",), probe, attested=True
            ),
            now=expiry + timedelta(days=1),
        )
    refused = [k for k in _kinds(ctx) if k == "search.refused"]
    assert len(refused) == 7

    # 5. The head raises the limit; the change is versioned, audited and mailed as relaxed.
    org.set_policy(daily_limit=10)
    assert any(
        "RELAXED" in (m["Subject"] or "") and "daily limit raised to 10" in m.get_payload()
        for m in box.messages
    )

    # 6. A homicide search waits for a supervisor.
    pending = org.search(("bookings",), probe, offense="homicide")
    assert pending.status == "pending" and pending.candidates == []
    sid = pending.search_id
    assert [p.search_id for p in results.pending_searches(ctx, org.people["sam"])] == [sid]
    assert any(
        m["Subject"] == f"[facetrail] search {sid} awaits your approval" for m in box.messages
    )
    with pytest.raises(PermissionDeniedError, match="own search"):
        svc.decide_search(ctx, ivy, sid, True, "approving my own search")
    assert svc.decide_search(ctx, org.people["sam"], sid, True, "homicide, case open") == "approved"
    with pytest.raises(StateError):
        svc.decide_search(ctx, org.people["sam"], sid, True, "approving it twice")

    # 7. Results, stored with what produced them; viewing, a source image and export are events.
    result = results.get_search(ctx, ivy, sid)
    assert result.status == "done" and result.case_number == CASE
    top = result.candidates[0]
    assert top.image_name.startswith(people[2].name)
    assert result.produced_by["bookings"].pack == "arcface-mbf"
    assert "Flat" in result.produced_by["bookings"].index or result.produced_by["bookings"].index
    name, data = results.candidate_image(ctx, ivy, top.id)
    assert data[:2] == b"\xff\xd8" and name == top.image_name
    exported = results.export_search(ctx, ivy, sid)
    assert exported["search_id"] == sid and "investigative lead" in exported["notice"]

    # 8. Two-person review, blind.
    first_call = review.review_candidate(ctx, ivy, top.id, "possible_match", "same scar, ears")
    assert first_call.stage == 1 and first_call.second_review_pending
    with pytest.raises(ReviewError, match="another person"):
        review.review_candidate(ctx, ivy, top.id, "possible_match", "looks right to me")
    with pytest.raises(ReviewError, match="two people"):
        review.record_outcome(ctx, ivy, sid, "lead", "too early")
    ian = org.people["ian"]
    seen_by_ian = results.get_search(ctx, ian, sid, include_crops=False)
    assert seen_by_ian.candidates[0].reviews == ()  # Ivy's call is hidden from Ian
    review.review_candidate(ctx, ian, top.id, "possible_match", "independent: nose and brow")
    after = results.get_search(ctx, ian, sid, include_crops=False).candidates[0].reviews
    assert [(r.stage, r.reviewer) for r in after] == [(1, "ivy"), (2, "ian")]

    # 9. The outcome is a lead, labelled as such.
    outcome = review.record_outcome(ctx, ivy, sid, "lead", "follow up at the address on file")
    assert outcome.confirmed == [top.id] and "never an identification" in outcome.notice
    with pytest.raises(StateError):
        review.review_candidate(ctx, org.people["sam"], top.id, "not_a_match", "too late now")

    # 10. The disclosure for the prosecutor names every search of the case and its audit trail.
    disclosure = review.case_disclosure(ctx, org.people["sam"], CASE)
    body = json.loads(disclosure.to_json())
    assert [s["search_id"] for s in body["searches"]] == [first.search_id, first.search_id + 1, sid]
    assert len(body["refused"]) == 5  # those that named this case; they never ran
    mine = body["searches"][-1]
    assert mine["outcome"] == "lead" and mine["decided_by"] == "sam"
    assert [r["reviewer"] for r in mine["reviews"]] == ["ivy", "ian"]
    kinds = [e["kind"] for e in mine["audit_entries"]]
    for kind in (
        "search.request",
        "search.approve",
        "search.run",
        "search.view",
        "search.source_view",
        "search.export",
        "review.record",
        "review.refused",
        "search.outcome",
    ):
        assert kind in kinds, kind
    assert "case.disclose" in _kinds(ctx)

    # 11. Every step is in the log, and the log verifies against a fresh signed checkpoint.
    audit.make_checkpoint(ctx)
    public = audit.public_key(ctx)
    with ctx.sessions() as s:
        report = verify_log(s, public, ())
    with ctx.sessions() as s:
        everything = int(s.scalar(select(func.count(AuditEntryRow.seq))) or 0)
    assert report.ok and report.entries == everything


def test_supervisor_denies_and_only_the_agency_sees(world) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = world
    ctx: AppContext = org.ctx
    org.set_policy(galleries=("bookings",))  # default approval: always
    acc.create_agency(ctx, org.admin, "city")
    org.add("cy", "city", Role.SUPERVISOR, Role.INVESTIGATOR)
    org.add("ivy", AGENCY, Role.INVESTIGATOR)
    probe_path = sorted(people[0].glob("*.jpg"))[1]
    probe = (ProbeImage(probe_path.name, probe_path.read_bytes()),)
    sid = org.search(("bookings",), probe).search_id
    # A supervisor of another agency can neither decide nor read it: to them it does not
    # exist (the same answer as for a search id nobody has used).
    with pytest.raises(NotFoundError, match="no such search"):
        svc.decide_search(ctx, org.people["cy"], sid, True, "not mine to approve")
    with pytest.raises(NotFoundError, match="no such search"):
        results.get_search(ctx, org.people["cy"], sid)
    with pytest.raises(NotFoundError, match="no such search"):
        results.get_search(ctx, org.people["cy"], sid + 1000)
    assert svc.decide_search(ctx, org.people["sam"], sid, False, "no link to the case") == "denied"
    assert results.get_search(ctx, org.people["ivy"], sid).candidates == []
    kinds = _kinds(ctx)
    assert "search.approve.refused" in kinds and "search.view.refused" in kinds
    assert "search.deny" in kinds and "search.run" not in kinds
    # A gallery admin is not an investigator.
    with pytest.raises(PermissionDeniedError, match="investigators"):
        org.search(("bookings",), probe, who="gus")


def test_network_operator_searches_for_member_agencies_only(world) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = world
    ctx: AppContext = org.ctx
    acc.create_network(ctx, org.admin, "metro")
    acc.create_agency(ctx, org.admin, "metro-ops", network="metro")
    acc.create_agency(ctx, org.admin, "elsewhere")
    org.add("nora", "metro-ops", Role.NETWORK_OPERATOR)
    with ctx.transaction() as s:  # the county joins the network
        county = acc.agency_by_name(s, AGENCY)
        county.network_id = acc.agency_by_name(s, "metro-ops").network_id
    # The operator cannot relax the county's policy: that needs the county's head, who is told.
    with pytest.raises(PermissionDeniedError, match="head"):
        org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER, by="nora")
    org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER, by="head")
    told = [m.subject for m in inbox(ctx, org.people["head"].user_id)]
    assert any("RELAXED" in t for t in told)
    probe_path = sorted(people[1].glob("*.jpg"))[1]
    probe = (ProbeImage(probe_path.name, probe_path.read_bytes()),)
    result = org.search(("bookings",), probe, who="nora", on_behalf_of=AGENCY)
    assert result.status == "done" and result.agency == AGENCY
    with pytest.raises(PermissionDeniedError, match="not a member"):
        org.search(("bookings",), probe, who="nora", on_behalf_of="elsewhere")
    with pytest.raises(PermissionDeniedError, match="only a network operator"):
        org.search(("bookings",), probe, who="ian", on_behalf_of=AGENCY)
    # Nobody outside the head, an admin or the network's operator changes the policy.
    with pytest.raises(PermissionDeniedError):
        org.set_policy(daily_limit=999, by="ian")
    assert "policy.change.refused" in _kinds(ctx)
    org.set_policy(daily_limit=1, by="nora")  # tightening is the operator's to do


def test_gallery_work_needs_a_gallery_admin(world) -> None:  # type: ignore[no-untyped-def]
    org, _box, _people = world
    with pytest.raises(PermissionDeniedError, match="gallery_admin"):
        galleries.create_gallery(
            org.ctx, org.people["ian"], galleries.CreateGalleryRequest("secret")
        )
    assert "gallery.create.refused" in _kinds(org.ctx)


def _ivy_searching_at_once(world, **policy: object):  # type: ignore[no-untyped-def]
    """The county with ivy signed in and a policy that lets her search 'bookings' without
    prior approval (``policy``: more of it), and a probe of the first LFW person."""
    org, _box, people = world
    org.add("ivy", AGENCY, Role.INVESTIGATOR, by="head")
    org.login("ivy")
    org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER, **policy)
    probe_path = sorted(people[0].glob("*.jpg"))[0]
    return org, (ProbeImage(probe_path.name, probe_path.read_bytes()),)


def test_a_search_is_checked_again_under_the_lock_before_anything_is_stored(  # type: ignore[no-untyped-def]
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search that policy allows runs before its one locked transaction, which checks the
    request again: one overtaken while it ran (here by another search of the same person,
    using up the daily limit) is refused there, and nothing of it is stored."""
    org, probe = _ivy_searching_at_once(world, daily_limit=1)
    ctx: AppContext = org.ctx
    real_run = svc.run_galleries
    overtaken: list[int] = []

    def run_and_be_overtaken(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not overtaken:
            overtaken.append(1)
            monkeypatch.setattr(svc, "run_galleries", real_run)
            assert org.search(("bookings",), probe).status == "done"  # uses up the limit
        return real_run(*args, **kwargs)

    monkeypatch.setattr(svc, "run_galleries", run_and_be_overtaken)
    kinds_before = len(_kinds(ctx))
    with pytest.raises(DailyLimitError):
        org.search(("bookings",), probe)
    assert overtaken and _searches(ctx) == 1
    kinds = _kinds(ctx)[kinds_before:]
    assert kinds == ["search.request", "search.run", "search.refused"]
    with ctx.sessions() as s:
        refused = s.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.kind == "search.refused")
        ).all()
    assert json.loads(refused[-1])["code"] == DailyLimitError.code
    audit.make_checkpoint(ctx)
    with ctx.sessions() as s:
        assert verify_log(s, audit.public_key(ctx), ()).ok


def test_a_search_that_now_needs_approval_is_stored_pending_not_run(  # type: ignore[no-untyped-def]
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Policy made stricter while a search ran (its offense now needs approval): the locked
    check stores it pending, and what it found is neither stored nor shown."""
    org, probe = _ivy_searching_at_once(world)
    ctx: AppContext = org.ctx
    real_run = svc.run_galleries

    def run_while_policy_tightens(*args, **kwargs):  # type: ignore[no-untyped-def]
        org.set_policy(approval=ApprovalMode.ALWAYS)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(svc, "run_galleries", run_while_policy_tightens)
    result = org.search(("bookings",), probe)
    assert result.status == "pending" and not result.candidates
    with ctx.sessions() as s:
        record = s.get(SearchRecord, result.search_id)
        assert record is not None and record.status == "pending" and record.needs_approval
    assert "search.run" not in _kinds(ctx)


def test_the_check_before_the_search_stands_only_while_the_log_has_not_moved(  # type: ignore[no-untyped-def]
    world,
) -> None:
    """The search's locked transaction knows the log's size as it took the lock (PostgreSQL
    reads it with the lock; SQLite's transaction holds the write lock from its first
    statement): when nothing was committed since the check made before the search ran (every
    change to what it reads comes with an audit entry), that check stands and the requester
    is not read again; otherwise the request is checked again in full."""
    org, probe = _ivy_searching_at_once(world)
    ctx: AppContext = org.ctx
    reads: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT users.id"):
            reads.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        assert org.search(("bookings",), probe).status == "done"
    finally:
        event.remove(ctx.engine, "before_cursor_execute", count)
    assert len(reads) == 1
