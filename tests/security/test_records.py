"""Records edited in the database behind facetrail's back: a search, its candidates, a review
and a role grant. Each edit leaves the Merkle log whole, so only a check of every record
against the entry that made it can see it: ``audit verify`` names the first record that
disagrees, and the product refuses to act on a forged review, a forged role or an edited
search (typed, audited), never on what the insider wrote."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import get_settings
from facetrail.errors import RecordMismatchError
from facetrail.governance.credentials import Role
from facetrail.governance.policy import ApprovalMode
from facetrail.governance.verify import VerifyReport, verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.searching import review
from facetrail.services.searching import search as svc
from facetrail.store.schema import AuditEntryRow, Review, SearchCandidate, SearchRecord, User
from tests.conftest import needs_lfw

pytestmark = needs_lfw


def _verify(ctx: AppContext) -> VerifyReport:
    with ctx.sessions() as session:
        return verify_log(session, audit.public_key(ctx))


def _sql(ctx: AppContext, statement: str, **params: object) -> None:
    """What an insider with a shell does: write the database directly."""
    with ctx.transaction() as session:
        session.execute(text(statement), params)


def _refusals(ctx: AppContext, kind: str) -> list[str]:
    with ctx.sessions() as session:
        return list(
            session.scalars(select(AuditEntryRow.details).where(AuditEntryRow.kind == kind))
        )


def test_untouched_records_verify(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, _probe = world
    report = _verify(org.ctx)
    assert report.ok, report.problem


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ("UPDATE searches SET case_number = '2026-999999' WHERE id = :sid", "searches id"),
        ("UPDATE searches SET galleries = '[\"dmv\"]' WHERE id = :sid", "searches id"),
        ("UPDATE searches SET second_review = false WHERE id = :sid", "searches id"),
        ("UPDATE searches SET outcome = 'lead' WHERE id = :sid", "searches id"),
        (
            "UPDATE search_candidates SET template_id = template_id + 1 "
            "WHERE search_id = :sid AND rank = 1",
            "searches id",
        ),
        ("UPDATE search_candidates SET score = 0.999 WHERE search_id = :sid", "searches id"),
        ("DELETE FROM search_candidates WHERE search_id = :sid AND rank = 1", "searches id"),
    ],
)
def test_an_edited_search_or_candidate_fails_verify_and_is_named(  # type: ignore[no-untyped-def]
    world, edit: str, named: str
) -> None:
    org, sid, _probe = world
    _sql(org.ctx, edit, sid=sid)
    report = _verify(org.ctx)
    assert not report.ok
    assert report.problem is not None and f"{named} {sid}" in report.problem


def test_a_forged_review_is_refused_and_named(world) -> None:  # type: ignore[no-untyped-def]
    """Ivy reviews the top candidate; an insider copies her review as a second, independent
    one by Ian and records the search as a lead. The outcome is refused (two people never
    reviewed it) and verify names the forged review."""
    org, sid, _probe = world
    ctx: AppContext = org.ctx
    with ctx.sessions() as session:
        top = session.scalar(
            select(SearchCandidate.id).where(
                SearchCandidate.search_id == sid, SearchCandidate.rank == 1
            )
        )
        ian = session.scalar(select(User.id).where(User.username == "ian"))
    assert top is not None and ian is not None
    first = review.review_candidate(ctx, org.people["ivy"], top, "possible_match", "ears, scar")
    assert first.second_review_pending
    with ctx.transaction() as session:
        mine = session.scalars(select(Review).where(Review.search_id == sid)).one()
        session.add(
            Review(
                search_id=sid,
                candidate_id=top,
                reviewer_id=ian,
                stage=2,
                decision="possible_match",
                note="independent",
                created_at=mine.created_at,
                audit_seq=mine.audit_seq,
            )
        )
    with pytest.raises(RecordMismatchError):
        review.record_outcome(ctx, org.people["ivy"], sid, "lead", "follow it up")
    with ctx.sessions() as session:
        assert session.get(SearchRecord, sid).outcome is None  # type: ignore[union-attr]
    assert any("record_tampered" in d for d in _refusals(ctx, "search.outcome.refused"))
    report = _verify(ctx)
    assert not report.ok and report.problem is not None and "reviews id" in report.problem


def test_a_forged_role_is_refused_and_named(world) -> None:  # type: ignore[no-untyped-def]
    """An insider makes ivy a supervisor in user_roles. She cannot act on it (every action
    re-reads her roles and finds them disagreeing with the entry that granted them), and
    verify names her roles."""
    org, sid, probe = world
    ctx: AppContext = org.ctx
    _sql(
        ctx,
        "INSERT INTO user_roles (user_id, role, audit_seq) SELECT user_id, :role, audit_seq "
        "FROM user_roles JOIN users ON users.id = user_roles.user_id "
        "WHERE users.username = 'ivy'",
        role=Role.SUPERVISOR.value,
    )
    with pytest.raises(RecordMismatchError):
        org.search(("bookings",), probe)
    with pytest.raises(RecordMismatchError):
        svc.decide_search(ctx, org.people["ivy"], sid, True, "approving with my new role")
    report = _verify(ctx)
    assert not report.ok and report.problem is not None and "user_roles of ivy" in report.problem


def test_an_edited_pending_search_is_not_run(world) -> None:  # type: ignore[no-untyped-def]
    """A search waiting for a supervisor is widened in the database to a gallery the request
    never named; the supervisor's approval is refused (typed, audited) and nothing runs. A
    pending search flipped to 'approved' without a decision is not run by housekeeping."""
    org, _sid, probe = world
    ctx: AppContext = org.ctx
    org.set_policy(approval=ApprovalMode.ALWAYS)
    pending = org.search(("bookings",), probe)
    assert pending.status == "pending"
    _sql(ctx, "UPDATE searches SET galleries = '[\"dmv\"]' WHERE id = :sid", sid=pending.search_id)
    with pytest.raises(RecordMismatchError):
        svc.decide_search(ctx, org.people["sam"], pending.search_id, True, "ok, go ahead with it")
    assert any("record_tampered" in d for d in _refusals(ctx, "search.approve.refused"))

    second = org.search(("bookings",), probe)
    _sql(
        ctx,
        "UPDATE searches SET status = 'approved', needs_approval = false, "
        "created_at = '2000-01-01 00:00:00' WHERE id = :sid",
        sid=second.search_id,
    )
    assert svc.resume_stranded(ctx) == 0
    with ctx.sessions() as session:
        assert session.get(SearchRecord, second.search_id).status == "approved"  # type: ignore[union-attr]
        ran = session.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.kind == "search.run.refused")
        ).all()
    assert [json.loads(d)["code"] for d in ran] == ["record_tampered"]


def test_cli_verify_names_the_record_and_exits_1(  # type: ignore[no-untyped-def]
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, sid, _probe = world
    home = org.ctx.settings.home
    _sql(org.ctx, "UPDATE search_candidates SET score = 1.0 WHERE search_id = :sid", sid=sid)
    monkeypatch.setenv("FACETRAIL_HOME", str(home))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["audit", "verify"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 1, out.output
    said = " ".join(out.output.split())
    assert f"searches id {sid}" in said and "Traceback" not in said
