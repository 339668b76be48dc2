"""Erasure and the opt-out list governed like searches (issue 21, section 2), as a hostile
insider would try them. Each was seen failing on the code before this change (1763fbb..ba61a5b):

- a gallery admin opened a request with any photo and read which booking images matched, then
  cancelled: a face search with no case, second person, limit or report. Now nothing is
  matched until the opener's agency head or a privacy officer approves; approvals count against
  the agency's daily limit and appear in the head's oversight, the digest and the
  transparency report;
- one request with several people's photos, consent, every match rejected, completed: they
  vanished from every later search while their photos stayed. Now the opt-out list holds only
  faces a second person confirmed (or, with no face found at all, the approved photos), and
  every search says how many candidates opt-outs withheld;
- completing a request erased a lead photo of an open case, and no one was told. Now such an
  image is held until the agency head decides, the case's investigators and head are told,
  and retention holds it alike.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Executable, create_engine, func, select, update

from facetrail.errors import (
    DailyLimitError,
    NotFoundError,
    PermissionDeniedError,
    RecordMismatchError,
    StateError,
)
from facetrail.governance.checkpoints import load_vkey
from facetrail.governance.receipts import open_receipt
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.notifications import inbox
from facetrail.services.oversight.agency import agency_oversight
from facetrail.services.oversight.digests import build_digest
from facetrail.services.oversight.reports import FEWER_THAN_5, transparency_report
from facetrail.services.rights.erasure import (
    ErasureRequest,
    approve_erasure,
    cancel_erasure,
    complete_erasure,
    decide_matches,
    match_crop,
    open_erasure,
    request_photo,
    show_erasure,
)
from facetrail.services.rights.legal_holds import decide_hold, list_holds
from facetrail.services.rights.retention import run_retention
from facetrail.store.schema import (
    Agency,
    AuditEntryRow,
    BlocklistEntry,
    ErasureRow,
    Image,
    LegalHold,
)
from tests.services.test_erasure import _photos, _probe, world  # noqa: F401

_CHECK = "passport checked in person at the front desk"


def _kinds(ctx: AppContext, subject: str) -> list[str]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow.kind)
                .where(AuditEntryRow.subject == subject)
                .order_by(AuditEntryRow.seq)
            )
        )


def test_no_one_learns_who_matches_before_a_second_person_approves(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _ = world
    ctx: AppContext = org.ctx
    gus, head, ivy = org.people["gus"], org.people["head"], org.people["ivy"]
    request = ErasureRequest("REQ-1", _CHECK, False, (_probe(_photos(person)[3]),))
    opened = open_erasure(ctx, gus, request)
    # Before: the answer already listed the booking images of the person.
    assert opened.status == "requested" and opened.matches == []
    assert show_erasure(ctx, gus, opened.id).matches == []
    with pytest.raises(PermissionDeniedError, match="never the opener"):
        approve_erasure(ctx, gus, opened.id, "I approve my own request")
    with pytest.raises(PermissionDeniedError):
        show_erasure(ctx, ivy, opened.id)
    with pytest.raises(PermissionDeniedError):
        request_photo(ctx, ivy, opened.id, 1)
    # The head is told it waits; the photo is shown to who decides, as JPEG.
    assert any(f"Erasure request {opened.id}" in m.subject for m in inbox(ctx, head.user_id))
    assert request_photo(ctx, gus, opened.id, 1)[:2] == b"\xff\xd8"
    kept = hashlib.sha256(_photos(person)[3].read_bytes()).hexdigest()
    assert ctx.blobs.path(kept).exists()
    cancel_erasure(ctx, gus, opened.id, "asked only to see who matches")
    kinds = _kinds(ctx, f"erasure:{opened.id}")
    assert "erasure.approve.refused" in kinds and "erasure.approve" not in kinds
    assert not ctx.blobs.path(kept).exists()  # the photo went with the request

    # Approved by the head, the faces are found; the decider sees each beside the photos.
    second = open_erasure(ctx, gus, request)
    approved = approve_erasure(ctx, head, second.id, "identity check seen on file")
    assert approved.status == "open" and approved.approved_by == "head" and approved.matches
    assert match_crop(ctx, gus, second.id, approved.matches[0].id)[:2] == b"\xff\xd8"


def test_approvals_are_limited_and_reported_like_searches(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _ = world
    ctx: AppContext = org.ctx
    gus, head = org.people["gus"], org.people["head"]
    org.set_policy(galleries=("bookings", "dmv"), daily_limit=1)
    request = ErasureRequest("REQ-2", _CHECK, False, (_probe(_photos(person)[3]),))
    first = open_erasure(ctx, gus, request)
    second = open_erasure(ctx, gus, request)
    approve_erasure(ctx, head, first.id, "identity check seen on file")
    with pytest.raises(DailyLimitError, match="daily"):
        approve_erasure(ctx, head, second.id, "identity check seen on file")
    assert "erasure.approve.refused" in _kinds(ctx, f"erasure:{second.id}")

    seen = agency_oversight(ctx, head)
    assert [(e.id, e.status, e.approved_by) for e in seen.erasures] == [
        (second.id, "requested", None),
        (first.id, "open", "head"),
    ]
    now = _at(first.created_at)
    with ctx.sessions() as s:
        county = s.scalar(select(Agency).where(Agency.name == "county"))
        assert county is not None
        day = timedelta(days=1)
        digest = build_digest(s, county, now - day, now + day, now)
    assert digest.erasure_requests == {"opened": 2, "approved": 1, "cancelled": 0, "completed": 0}
    assert "Erasure requests: approved 1" in digest.text()
    month = f"{now:%Y-%m}"
    over = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    report = transparency_report(ctx, agency="county", month=month, now=over)
    assert report.erasure_requests["opened"] == FEWER_THAN_5
    assert report.erasure_requests["approved"] == FEWER_THAN_5
    assert report.erasure_requests["completed"] == 0


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_rejected_faces_hide_no_one_and_results_say_what_opt_outs_withheld(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _ = world
    ctx: AppContext = org.ctx
    gus, head = org.people["gus"], org.people["head"]
    # Before: these photos' templates went to the opt-out list although every face found was
    # rejected, and the person vanished from later searches with no word of it.
    request = ErasureRequest("REQ-3", _CHECK, True, tuple(_probe(p) for p in _photos(person)[:3]))
    opened = approve_erasure(
        ctx, head, open_erasure(ctx, gus, request).id, "identity check seen on file"
    )
    assert opened.matches
    decide_matches(ctx, gus, opened.id, [], [m.id for m in opened.matches])
    done = complete_erasure(ctx, head, opened.id)
    with ctx.sessions() as s:
        assert s.scalar(select(func.count(BlocklistEntry.id))) == 0
    _, body = open_receipt(done.receipt or "", load_vkey(audit.public_key_file(ctx)))
    assert body["opt_out_kept"] is False
    shown = org.search(("bookings", "dmv"), (_probe(_photos(person)[3]),))
    assert shown.withheld == 0
    assert {c.gallery for c in shown.candidates[:3]} >= {"bookings"}  # still found


def test_an_open_cases_image_is_held_until_the_head_decides(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _ = world
    ctx: AppContext = org.ctx
    gus, head, ivy = org.people["gus"], org.people["head"], org.people["ivy"]
    lead = org.search(("bookings", "dmv"), (_probe(_photos(person)[3]),), who="ivy")
    theirs = {hashlib.sha256(p.read_bytes()).hexdigest() for p in _photos(person)[:3]}
    assert theirs & {c.image_sha256 for c in lead.candidates}  # the open case returned them
    request = ErasureRequest("REQ-4", _CHECK, False, tuple(_probe(p) for p in _photos(person)[:3]))
    opened = approve_erasure(
        ctx, head, open_erasure(ctx, gus, request).id, "identity check seen on file"
    )
    decide_matches(ctx, gus, opened.id, [m.id for m in opened.matches], [])
    # Before: this erased the open case's candidates and told no one.
    with pytest.raises(StateError, match="open cases"):
        complete_erasure(ctx, head, opened.id)
    holds = list_holds(ctx, head)
    assert holds and all(h.status == "pending" and h.cases == [lead.case_number] for h in holds)
    told = [m.subject for m in inbox(ctx, ivy.user_id)]
    assert any("Legal hold" in s for s in told)  # the case's investigator
    assert any("Legal hold" in m.subject for m in inbox(ctx, head.user_id))
    with ctx.sessions() as s:  # nothing of theirs removed meanwhile
        assert set(s.scalars(select(Image.sha256))) >= theirs
    # Only the agency head decides.
    with pytest.raises((PermissionDeniedError, NotFoundError)):
        decide_hold(ctx, gus, holds[0].id, True, "I want it gone anyway")
    with pytest.raises(PermissionDeniedError):
        list_holds(ctx, gus)
    keep = holds[0]
    decide_hold(ctx, head, keep.id, False, "still evidence in the open case")
    for other in holds[1:]:
        decide_hold(ctx, head, other.id, True, "not needed by the case any more")
    done = complete_erasure(ctx, head, opened.id)
    _, body = open_receipt(done.receipt or "", load_vkey(audit.public_key_file(ctx)))
    assert body["held_for_open_cases"] == [keep.image_sha256]
    with ctx.sessions() as s:
        left = set(s.scalars(select(Image.sha256)))
    assert keep.image_sha256 in left and not (theirs - {keep.image_sha256}) & left
    kinds = _kinds(ctx, f"hold:{keep.id}")
    assert kinds == ["hold.raise", "hold.decide.refused", "hold.decide"]  # gus refused


def test_retention_holds_an_open_cases_image_too(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _ = world
    ctx: AppContext = org.ctx
    head = org.people["head"]
    lead = org.search(("bookings", "dmv"), (_probe(_photos(person)[3]),), who="ivy")
    shown = {c.image_sha256 for c in lead.candidates}
    later = _at(_searched_at(ctx, lead.search_id)) + timedelta(days=4000)
    run_retention(ctx, now=later)  # every source's period is over by then
    with ctx.sessions() as s:
        left = set(s.scalars(select(Image.sha256)))
        pending = list(s.scalars(select(LegalHold).where(LegalHold.status == "pending")))
    assert shown <= left  # the case's candidates stay, the rest went
    assert pending and {h.image_sha256 for h in pending} <= shown
    assert all(h.cause.startswith("retention:") for h in pending)
    for hold in list_holds(ctx, head):
        decide_hold(ctx, head, hold.id, True, "the case is closed, let retention apply")
    run_retention(ctx, now=later)
    with ctx.sessions() as s:
        assert not shown & set(s.scalars(select(Image.sha256)))


def _searched_at(ctx: AppContext, search_id: int) -> str:
    with ctx.sessions() as s:
        at = s.scalar(
            select(AuditEntryRow.at).where(AuditEntryRow.subject == f"search:{search_id}")
        )
    assert at is not None
    return str(at)


def _insider(ctx: AppContext, statement: Executable) -> None:
    """A write on the insider's own connection, committed (not through facetrail)."""
    engine = create_engine(ctx.settings.db_url)
    try:
        with engine.begin() as connection:
            connection.execute(statement)
    finally:
        engine.dispose()


def test_an_insiders_edits_to_a_request_or_a_hold_are_refused_where_used(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _ = world
    ctx: AppContext = org.ctx
    gus, head = org.people["gus"], org.people["head"]
    # The request's photo re-pointed at another face's blob before the approval.
    request = ErasureRequest("REQ-5", _CHECK, False, (_probe(_photos(person)[3]),))
    opened = open_erasure(ctx, gus, request)
    other = org.search(("bookings",), (_probe(_photos(person)[3]),)).candidates[-1].image_sha256
    _insider(
        ctx, update(ErasureRow).where(ErasureRow.id == opened.id).values(photos=f'["{other}"]')
    )
    with pytest.raises(RecordMismatchError, match="erasure request"):
        approve_erasure(ctx, head, opened.id, "identity check seen on file")
    assert "erasure.approve.refused" in _kinds(ctx, f"erasure:{opened.id}")

    # A pending hold set to "released" in the database lets nothing go.
    request = ErasureRequest("REQ-6", _CHECK, False, tuple(_probe(p) for p in _photos(person)[:3]))
    second = approve_erasure(
        ctx, head, open_erasure(ctx, gus, request).id, "identity check seen on file"
    )
    decide_matches(ctx, gus, second.id, [m.id for m in second.matches], [])
    with pytest.raises(StateError, match="open cases"):
        complete_erasure(ctx, head, second.id)
    _insider(ctx, update(LegalHold).values(status="released"))
    with pytest.raises(RecordMismatchError, match="legal hold"):
        complete_erasure(ctx, head, second.id)
    theirs = {hashlib.sha256(p.read_bytes()).hexdigest() for p in _photos(person)[:3]}
    with ctx.sessions() as s:
        assert set(s.scalars(select(Image.sha256))) >= theirs  # nothing removed
