"""Attacks of an insider who can write the database, from issue 21 section 1: each edit leaves
the Merkle log whole, so before the rows were sealed nothing noticed (each test here failed on
main at 1763fbb: ``audit verify`` passed and the product acted on the edited row). Now
``audit verify`` names the row and the column, and the product refuses to act on it where it
is used.

The insider writes on a connection of their own (no facetrail code runs), as with a shell.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from facetrail.errors import FacetrailError
from facetrail.governance.credentials import Role
from facetrail.governance.verify import VerifyReport, verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.rights.retention import run_retention
from facetrail.services.searching import review
from facetrail.services.signin.authentication import authenticate, login
from facetrail.store.schema import AuditEntryRow, Image, SearchCandidate, TemplateRow, User
from tests.conftest import needs_lfw
from tests.org import AGENCY, CASE, PASSWORD, next_code

pytestmark = needs_lfw


def _insider(ctx: AppContext, statement: str, **params: object) -> None:
    """A write on the insider's own connection, committed."""
    engine = create_engine(ctx.settings.db_url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # as a superuser may: no FK checks
                connection.exec_driver_sql("SET session_replication_role = replica")
            connection.execute(text(statement), params)
    finally:
        engine.dispose()


def _verify(ctx: AppContext) -> VerifyReport:
    with ctx.sessions() as session:
        return verify_log(session, audit.public_key(ctx))


def _named(report: VerifyReport, *words: str) -> bool:
    """The report fails and says each of ``words`` (in its problem or its rows' findings)."""
    said = " ".join([report.problem or "", *(str(f) for f in report.rows)])
    return not report.ok and all(w in said for w in words)


def _kinds(ctx: AppContext) -> list[str]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntryRow.kind).order_by(AuditEntryRow.seq)))


def test_swapped_template_vectors_are_never_ranked(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, probe = world
    with org.ctx.sessions() as session:
        rows = session.execute(select(TemplateRow.id, TemplateRow.vector).limit(2)).all()
    (a, va), (b, vb) = rows
    _insider(org.ctx, "UPDATE templates SET vector = :v WHERE id = :i", v=vb, i=a)
    _insider(org.ctx, "UPDATE templates SET vector = :v WHERE id = :i", v=va, i=b)
    assert _named(_verify(org.ctx), "templates", "vector")
    try:
        result = org.search(("bookings",), probe)
    except FacetrailError as refused:
        assert refused.code == "record_tampered"
    else:
        assert result.status != "done" and not result.candidates
    assert "record_tampered" in " ".join(_last_details(org.ctx, 4))


def _last_details(ctx: AppContext, count: int) -> list[str]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntryRow.details).order_by(AuditEntryRow.seq.desc()).limit(count)
            )
        )


def test_a_candidate_repointed_at_someone_else_is_named(world) -> None:  # type: ignore[no-untyped-def]
    org, sid, _probe = world
    _insider(
        org.ctx,
        "UPDATE search_candidates SET image_sha256 = :h, subject_ref = 'INNOCENT', x1 = 0 "
        "WHERE search_id = :s AND rank = 1",
        h="0" * 64,
        s=sid,
    )
    report = _verify(org.ctx)
    assert _named(report, "search_candidates", "image_sha256", "subject_ref", "x1")
    with org.ctx.sessions() as session:
        first = session.scalar(
            select(SearchCandidate.id).where(
                SearchCandidate.search_id == sid, SearchCandidate.rank == 1
            )
        )
    assert first is not None
    with pytest.raises(FacetrailError) as refused:
        review.review_candidate(org.ctx, org.people["ivy"], first, "possible_match", "same ears")
    assert refused.value.code == "record_tampered"


def test_a_deleted_search_is_named_missing(world) -> None:  # type: ignore[no-untyped-def]
    org, sid, _probe = world
    _insider(org.ctx, "DELETE FROM probe_templates WHERE search_id = :s", s=sid)
    _insider(org.ctx, "DELETE FROM search_candidates WHERE search_id = :s", s=sid)
    _insider(org.ctx, "DELETE FROM searches WHERE id = :s", s=sid)
    assert _named(_verify(org.ctx), f"searches {sid} is missing")
    # the case disclosure for prosecutors is not made without it (seen on 7b69e17: "no
    # searches for this case")
    with pytest.raises(FacetrailError) as refused:
        review.case_disclosure(org.ctx, org.people["head"], CASE)
    assert refused.value.code == "record_tampered"
    assert f"search {sid}" in str(refused.value)
    assert "case.disclose.refused" in _kinds(org.ctx)


def test_a_search_moved_into_another_case_stops_both_disclosures(world) -> None:  # type: ignore[no-untyped-def]
    org, sid, probe = world
    other = org.search(("bookings",), probe, case_number="2026-009999")
    _insider(
        org.ctx,
        "UPDATE searches SET case_number = :c WHERE id = :s",
        c="2026-009999",
        s=sid,
    )
    for case in (CASE, "2026-009999"):
        with pytest.raises(FacetrailError) as refused:
            review.case_disclosure(org.ctx, org.people["head"], case)
        assert refused.value.code == "record_tampered"
    assert other.search_id != sid


def test_a_deleted_dissenting_review_is_found_and_no_second_review_replaces_it(world) -> None:  # type: ignore[no-untyped-def]
    org, sid, _probe = world
    with org.ctx.sessions() as session:
        first = session.scalar(
            select(SearchCandidate.id).where(
                SearchCandidate.search_id == sid, SearchCandidate.rank == 1
            )
        )
    assert first is not None
    review.review_candidate(org.ctx, org.people["ivy"], first, "possible_match", "same ears")
    review.review_candidate(org.ctx, org.people["ian"], first, "not_a_match", "different nose")
    _insider(org.ctx, "DELETE FROM reviews WHERE candidate_id = :c AND stage = 2", c=first)
    assert _named(_verify(org.ctx), "reviews", "missing")
    org.add("sue", AGENCY, Role.SUPERVISOR)
    with pytest.raises(FacetrailError) as refused:
        review.review_candidate(org.ctx, org.people["sue"], first, "possible_match", "a lead")
    assert refused.value.code == "record_tampered"


def test_back_dated_searches_and_faults_are_named(world) -> None:  # type: ignore[no-untyped-def]
    org, sid, _probe = world
    _insider(
        org.ctx,
        "UPDATE searches SET created_at = :t, fault = 'system', status = 'failed' WHERE id = :s",
        t="2020-01-01 00:00:00.000000",
        s=sid,
    )
    assert _named(_verify(org.ctx), f"searches {sid}", "created_at", "fault", "status")


def test_back_dated_images_are_held_from_retention(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, _probe = world
    with org.ctx.sessions() as session:
        image = session.scalars(select(Image).limit(1)).one()
    _insider(
        org.ctx,
        "UPDATE images SET created_at = :t WHERE id = :i",
        t="2000-01-01 00:00:00",
        i=image.id,
    )
    assert _named(_verify(org.ctx), f"images {image.id}", "created_at")
    report = run_retention(org.ctx)
    assert sum(p.images for p in report.sources) == 0
    with org.ctx.sessions() as session:
        assert session.get(Image, image.id) is not None
    assert "retention.held" in _kinds(org.ctx)


def test_a_suspended_account_set_active_again_cannot_act(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, probe = world
    ivy = org.people["ivy"]
    from facetrail.services import accounts

    accounts.suspend_account(org.ctx, org.people["head"], "ivy", "under investigation")
    _insider(org.ctx, "UPDATE users SET status = 'active' WHERE username = 'ivy'")
    assert _named(_verify(org.ctx), "users", "status")
    with pytest.raises(FacetrailError) as refused:
        org.search(("bookings",), probe)
    assert refused.value.code in ("record_tampered", "account_inactive")
    assert ivy.username == "ivy"


def test_a_user_moved_to_another_agency_cannot_act(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, probe = world
    from facetrail.services import accounts

    accounts.create_agency(org.ctx, org.admin, "city")
    _insider(
        org.ctx,
        "UPDATE users SET agency_id = (SELECT id FROM agencies WHERE name = 'city') "
        "WHERE username = 'ivy'",
    )
    assert _named(_verify(org.ctx), "users", "agency_id")
    with pytest.raises(FacetrailError) as refused:
        org.search(("bookings",), probe)
    assert refused.value.code == "record_tampered"


def test_a_token_row_inserted_for_a_supervisor_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, _probe = world
    token = "ft_insider_made_this_token_for_sam_000000000000"
    from facetrail.governance import credentials as cred

    _insider(
        org.ctx,
        "INSERT INTO api_tokens (user_id, token_hash, name, created_at, expires_at) "
        "SELECT id, :h, 'forged', '2026-01-01 00:00:00', '2099-01-01 00:00:00' FROM users "
        "WHERE username = 'sam'",
        h=cred.secret_hash(token),
    )
    assert _named(_verify(org.ctx), "api_tokens", "not in the audit log")
    with pytest.raises(FacetrailError) as refused:
        authenticate(org.ctx, token)
    assert refused.value.code == "record_tampered"


def test_a_changed_password_hash_or_second_factor_signs_no_one_in(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, _probe = world
    with org.ctx.sessions() as session:
        ian = session.scalars(select(User).where(User.username == "ian")).one()
        ivy = session.scalars(select(User).where(User.username == "ivy")).one()
    # the insider gives ivy ian's password hash and second factor, whose secrets they know
    _insider(
        org.ctx,
        "UPDATE users SET password_hash = :p, totp_secret = :t WHERE username = 'ivy'",
        p=ian.password_hash,
        t=ian.totp_secret,
    )
    assert ivy.password_hash != ian.password_hash
    assert _named(_verify(org.ctx), "users", "password_hash", "totp_secret")
    secret = org.enrolments["ian"].totp_secret
    assert secret is not None
    code, when = next_code(secret)
    with pytest.raises(FacetrailError) as refused:
        login(org.ctx, "ivy", PASSWORD, code, now=when)
    assert refused.value.code == "record_tampered"


def _opt_out(org, template_id: int) -> int:  # type: ignore[no-untyped-def]
    """A person on the opt-out list, as facetrail writes it (sealed): the entry id."""
    from facetrail.store.schema import BlocklistEntry, ErasureRow, Gallery

    with org.ctx.transaction() as session:
        template = session.get(TemplateRow, template_id)
        gallery = session.scalars(select(Gallery)).first()
        assert template is not None and gallery is not None
        erasure = ErasureRow(
            reference="REQ-1",
            identity_check="passport",
            consent_blocklist=True,
            status="done",
            requested_by=org.people["gus"].user_id,
        )
        session.add(erasure)
        session.flush()
        entry = BlocklistEntry(pack=gallery.pack, vector=template.vector, erasure_id=erasure.id)
        session.add(entry)
        session.flush()
        gallery.templates_version += 1
        return int(entry.id)


def test_an_opt_out_list_changed_outside_facetrail_is_never_used(world) -> None:  # type: ignore[no-untyped-def]
    """Deleting an opted-out person's entry would show them again; planting one would hide
    anyone from every search. Either makes searches refuse the list (seen failing on 7b69e17:
    the deleted person was ranked again, the planted one hidden)."""
    org, _sid, probe = world
    first = org.search(("bookings",), probe).candidates[0]
    kept = _opt_out(org, first.template_id)
    hidden = org.search(("bookings",), probe)
    assert first.template_id not in [c.template_id for c in hidden.candidates]
    _insider(org.ctx, "DELETE FROM blocklist WHERE id = :i", i=kept)
    _insider(org.ctx, "UPDATE galleries SET templates_version = templates_version")
    org.ctx.blocklists.clear()  # a worker started after the edit
    with pytest.raises(FacetrailError) as refused:
        org.search(("bookings",), probe)
    assert refused.value.code == "record_tampered" and "opt-out list" in str(refused.value)


def test_a_planted_opt_out_entry_hides_no_one(world) -> None:  # type: ignore[no-untyped-def]
    org, _sid, probe = world
    first = org.search(("bookings",), probe).candidates[0]
    with org.ctx.sessions() as session:
        vector = session.scalars(
            select(TemplateRow.vector).where(TemplateRow.id == first.template_id)
        ).one()
    _insider(
        org.ctx,
        "INSERT INTO blocklist (pack, vector, erasure_id, created_at) "
        "SELECT pack, :v, 1, '2026-12-01 00:00:00' FROM galleries LIMIT 1",
        v=vector,
    )
    org.ctx.blocklists.clear()
    with pytest.raises(FacetrailError) as refused:
        org.search(("bookings",), probe)
    assert refused.value.code == "record_tampered"


def test_a_newer_policy_deleted_puts_no_older_one_in_force(world) -> None:  # type: ignore[no-untyped-def]
    """The head makes every search need approval; an insider deletes that version's row, so
    the older policy (no approval) would be the newest stored. Searches are refused instead
    (seen failing on 7b69e17: the search ran without approval)."""
    from facetrail.governance.policy import ApprovalMode

    org, _sid, probe = world
    org.set_policy(galleries=("bookings",), approval=ApprovalMode.ALWAYS, second_reviewer=True)
    _insider(
        org.ctx,
        "DELETE FROM agency_policies WHERE id = (SELECT max(id) FROM agency_policies)",
    )
    with pytest.raises(FacetrailError) as refused:
        org.search(("bookings",), probe)
    assert refused.value.code == "record_tampered" and "missing" in str(refused.value)


def test_a_recovery_code_planted_for_someone_signs_no_one_in(world) -> None:  # type: ignore[no-untyped-def]
    """An insider who knows a colleague's password plants a recovery code of their own for
    that colleague's second factor: it is no code (seen on 7b69e17: the sign-in's commit
    refused to seal the planted row and raised record_tampered, unlogged)."""
    from facetrail.errors import AuthError
    from facetrail.governance import credentials as cred

    org, _sid, _probe = world
    _insider(
        org.ctx,
        "INSERT INTO recovery_codes (user_id, code_hash) "
        "SELECT id, :h FROM users WHERE username = 'ivy'",
        h=cred.secret_hash("ABCD-EFGH-2345"),
    )
    with pytest.raises(AuthError) as refused:
        login(org.ctx, "ivy", PASSWORD, "ABCD-EFGH-2345")
    assert refused.value.code != "record_tampered"
    assert "auth.login.failed" in _kinds(org.ctx)
