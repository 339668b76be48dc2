"""Misuse alerts over real searches (issue 14): raised once from the typed events, told to the
head and the auditors by SMTP and inbox, weighed in the member agency when a network operator
searched for it, acknowledged and closed only with a note by the right people, every step
audited, and an alert edited or deleted in the database caught by ``audit verify``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import delete, func, select, update

from facetrail.errors import InvalidRequestError, NotFoundError, PermissionDeniedError, StateError
from facetrail.governance.credentials import Role
from facetrail.governance.events import SearchRequested, StaffChecked, read_events
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.notifications import inbox
from facetrail.services.oversight import alerts
from facetrail.services.rights.retention import purge_expired_probes
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AlertRow, AuditEntryRow, Gallery, OpenCase, ProbeTemplateRow
from tests.conftest import copy_first_images, needs_lfw
from tests.mail import smtp
from tests.org import AGENCY, Org
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]
pytestmark = needs_lfw


def _verify(ctx: AppContext) -> str | None:
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    return report.problem


def test_real_searches_raise_alerts_once_to_the_head_and_auditors(county) -> None:  # type: ignore[no-untyped-def]
    org, box, people = county
    ctx: AppContext = org.ctx
    probe = probe_of(people[1])
    a = org.search(("bookings",), probe, case_number="2026-000101")
    b = org.search(("bookings",), probe, case_number="2026-000202")  # same photo, new case
    c = org.search(
        ("bookings",),
        probe_of(people[2]),
        who="nora",
        on_behalf_of=AGENCY,
        case_number="2026-000303",
    )
    assert a.candidates[0].score >= 0.5 and b.candidates[0].score >= 0.5
    assert (
        alerts.import_open_cases(ctx, org.people["aud"], AGENCY, ["2026-000101", "2026-000202"])
        == 2
    )

    raised = alerts.raise_alerts(ctx)
    assert raised["metro-ops"] == [] and raised["operators"] == []
    found = {v.rule: v for v in alerts.list_alerts(ctx, org.people["head"])}
    assert set(found) == {"probe_cases", "person_cases", "open_cases"}
    assert found["probe_cases"].searches == [a.search_id, b.search_id]
    assert found["person_cases"].user == "ivy"
    # The network operator's search is the county's: its alert is the county's, naming nora.
    assert found["open_cases"].user == "nora" and found["open_cases"].searches == [c.search_id]
    with ctx.sessions() as s:
        county_searches = read_events(s, [SearchRequested], agencies=[AGENCY])
        network_searches = read_events(s, [SearchRequested], agencies=["metro-ops"])
    assert [e.search_id for e in county_searches] == [a.search_id, b.search_id, c.search_id]
    assert network_searches == []

    # Told to the head and the auditor, by SMTP and in their inboxes; not to the investigators.
    for who in ("head", "aud"):
        told = [m for m in inbox(ctx, org.people[who].user_id) if m.subject.startswith("ALERT ")]
        assert len(told) == 3
        # Each points to its page, never to a command (it said 'facetrail alerts ack N').
        assert all("/alerts#alert-" in m.body and "facetrail " not in m.body for m in told)
        mailed = [m["Subject"] for m in box.messages if m["To"] == f"{who}@{AGENCY}.example"]
        assert sum("ALERT " in s for s in mailed) == 3
    assert not any(m.subject.startswith("ALERT") for m in inbox(ctx, org.people["ivy"].user_id))

    assert alerts.raise_alerts(ctx)[AGENCY] == []  # nothing new: raised once
    # Three weeks on, nobody reviewed or closed them: each is stale.
    later = alerts.raise_alerts(ctx, now=utc_now() + timedelta(days=21))[AGENCY]
    stale = [v for v in alerts.list_alerts(ctx, org.people["aud"]) if v.rule == "stale"]
    assert sorted(v.searches[0] for v in stale) == [a.search_id, b.search_id, c.search_id]
    assert len(later) == 3
    assert _verify(ctx) is None


def test_alerts_are_handled_with_a_note_by_the_head_or_an_auditor_only(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    probe = probe_of(people[1])
    org.search(("bookings",), probe, case_number="2026-000101")
    org.search(("bookings",), probe, case_number="2026-000202", who="ian")
    alerts.raise_alerts(ctx)
    (alert,) = [v for v in alerts.list_alerts(ctx, org.people["head"]) if v.rule == "probe_cases"]
    note = "asked ivy and ian: two robberies, one suspect"
    with pytest.raises(InvalidRequestError, match="note"):
        alerts.acknowledge_alert(ctx, org.people["aud"], alert.id, "ok")
    with pytest.raises(PermissionDeniedError, match="head or its auditors"):
        alerts.close_alert(ctx, org.admin, alert.id, note)  # a system admin sees, not handles
    with pytest.raises(NotFoundError):  # nor do its other people see it
        alerts.close_alert(ctx, org.people["sam"], alert.id, note)
    with pytest.raises(NotFoundError):  # nor another agency's
        alerts.close_alert(ctx, org.people["nora"], alert.id, note)
    with pytest.raises(NotFoundError):
        alerts.list_alerts(ctx, org.people["ivy"])
    seen = alerts.acknowledge_alert(ctx, org.people["aud"], alert.id, note)
    assert (seen.status, seen.acknowledged_by, seen.acknowledge_note) == (
        "acknowledged",
        "aud",
        note,
    )
    with pytest.raises(StateError, match="acknowledged"):
        alerts.acknowledge_alert(ctx, org.people["head"], alert.id, note)
    closed = alerts.close_alert(ctx, org.people["head"], alert.id, "both cases are real, no misuse")
    assert (closed.status, closed.closed_by) == ("closed", "head")
    with pytest.raises(StateError, match="closed"):
        alerts.close_alert(ctx, org.people["aud"], alert.id, note)
    with ctx.sessions() as s:
        kinds = list(s.scalars(select(AuditEntryRow.kind).where(AuditEntryRow.kind.like("alert%"))))
    for kind in ("alert.raise", "alert.acknowledge", "alert.close", "alert.list"):
        assert kind in kinds
    for kind in ("alert.acknowledge.refused", "alert.close.refused", "alert.list.refused"):
        assert kind in kinds
    assert _verify(ctx) is None


def test_an_alert_about_someone_is_not_theirs_to_close(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    org.add("hal", AGENCY, Role.AGENCY_HEAD, Role.INVESTIGATOR)
    probe = probe_of(people[3])
    for case in ("2026-000101", "2026-000202"):
        org.search(("bookings",), probe, who="hal", case_number=case)
    alerts.raise_alerts(ctx)
    (about_hal,) = [
        v for v in alerts.list_alerts(ctx, org.people["aud"]) if v.rule == "person_cases"
    ]
    assert about_hal.user == "hal"
    with pytest.raises(PermissionDeniedError, match="about you"):
        alerts.close_alert(ctx, org.people["hal"], about_hal.id, "nothing to see here at all")
    alerts.close_alert(ctx, org.people["aud"], about_hal.id, "hal explained: a repeat offender")


def test_an_alert_closed_or_deleted_in_the_database_fails_verification(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    probe = probe_of(people[1])
    org.search(("bookings",), probe, case_number="2026-000101")
    org.search(("bookings",), probe, case_number="2026-000202")
    alerts.raise_alerts(ctx)
    first = alerts.list_alerts(ctx, org.people["head"])[-1]
    with ctx.transaction() as s:  # an insider closes it without a word
        s.execute(update(AlertRow).where(AlertRow.id == first.id).values(status="closed"))
    problem = _verify(ctx)
    assert problem is not None and f"alerts id {first.id}" in problem
    with ctx.transaction() as s:
        s.execute(update(AlertRow).where(AlertRow.id == first.id).values(status="open"))
    assert _verify(ctx) is None
    with ctx.transaction() as s:  # or makes it disappear
        s.execute(delete(AlertRow).where(AlertRow.id == first.id))
    problem = _verify(ctx)
    assert problem is not None and f"alert:{first.id}" in problem and "gone" in problem


def test_an_agency_turns_a_rule_off_in_its_policy(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    org.set_policy(alerts=org_policy_alerts(org, disabled=("probe_cases", "person_cases")))
    probe = probe_of(people[1])
    org.search(("bookings",), probe, case_number="2026-000101")
    org.search(("bookings",), probe, case_number="2026-000202")
    assert alerts.raise_alerts(ctx)[AGENCY] == []


def org_policy_alerts(org: Org, **changes: object):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from facetrail.services.oversight import policy as policy_service

    current = policy_service.show_policy(org.ctx, org.people["head"], AGENCY).policy
    return replace(current.alerts, **changes)  # type: ignore[arg-type]


def test_a_probe_matching_the_agencys_staff_raises_an_alert(county, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    staff_photos = copy_first_images(tmp_path / "staff", [people[4]])
    galleries.create_gallery(
        ctx, org.people["gus"], galleries.CreateGalleryRequest("county-staff", staff_of=AGENCY)
    )
    galleries.add_source(
        ctx,
        org.people["gus"],
        galleries.CreateSourceRequest(
            "county-staff", "badges", "staff badge photos", "consent", "HR", "2026-01-15", 3650
        ),
    )
    ingest(
        ctx,
        org.people["gus"],
        IngestRequest(staff_photos[people[4].name].parent, "county-staff", "badges"),
    )
    assert galleries.show_gallery(ctx, "county-staff").staff_of == AGENCY
    # Never searchable: no policy grants it.
    with pytest.raises(InvalidRequestError, match="staff gallery"):
        org.set_policy(galleries=("bookings", "county-staff"))
    colleague = org.search(("bookings",), probe_of(people[4]), case_number="2026-000505")
    stranger = org.search(("bookings",), probe_of(people[1]), case_number="2026-000606")
    alerts.raise_alerts(ctx)
    found = [v for v in alerts.list_alerts(ctx, org.people["head"]) if v.rule == "staff_match"]
    assert [v.searches for v in found] == [[colleague.search_id]]
    with ctx.sessions() as s:
        checks = {e.search_id: e for e in read_events(s, [StaffChecked], agencies=[AGENCY])}
    assert set(checks) == {colleague.search_id, stranger.search_id}  # each compared once
    assert checks[stranger.search_id].matched == [] and checks[colleague.search_id].matched
    alerts.raise_alerts(ctx)
    with ctx.sessions() as s:
        assert len(read_events(s, [StaffChecked], agencies=[AGENCY])) == 2


def test_a_case_number_slipped_into_the_open_case_list_fails_verification(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, _people = county
    ctx: AppContext = org.ctx
    alerts.import_open_cases(ctx, org.people["aud"], AGENCY, ["2026-000101"])
    assert _verify(ctx) is None
    with ctx.transaction() as s:  # an insider makes a personal search look like a case's
        s.add(OpenCase(agency_id=org.people["aud"].agency_id, case_number="2026-999999"))
    problem = _verify(ctx)
    assert problem is not None and f"open_cases of {AGENCY}" in problem


def test_a_staff_gallery_unmarked_in_the_database_fails_verification(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, _people = county
    ctx: AppContext = org.ctx
    galleries.create_gallery(
        ctx, org.people["gus"], galleries.CreateGalleryRequest("county-staff", staff_of=AGENCY)
    )
    assert _verify(ctx) is None
    with ctx.transaction() as s:  # an insider makes it a gallery a policy could grant
        s.execute(update(Gallery).where(Gallery.name == "county-staff").values(staff_of=None))
    problem = _verify(ctx)
    assert problem is not None and "galleries county-staff" in problem
    with ctx.transaction() as s:  # or marks a searched gallery as staff
        s.execute(update(Gallery).values(staff_of=org.people["aud"].agency_id))
    problem = _verify(ctx)
    assert problem is not None and "galleries bookings" in problem


def test_the_same_face_re_saved_under_another_case_still_raises_an_alert(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    (probe,) = probe_of(people[1])
    image = cv2.imdecode(np.frombuffer(probe.data, np.uint8), cv2.IMREAD_COLOR)
    ok, resaved = cv2.imencode(".png", cv2.resize(image, None, fx=0.9, fy=0.9))
    assert ok and resaved.tobytes() != probe.data  # other bytes, other hash
    first = org.search(("bookings",), (probe,), case_number="2026-000101")
    second = org.search(
        ("bookings",), (ProbeImage("resaved.png", resaved.tobytes()),), case_number="2026-000202"
    )
    stranger = org.search(("bookings",), probe_of(people[3]), case_number="2026-000303")
    alerts.raise_alerts(ctx)
    (found,) = [a for a in alerts.list_alerts(ctx, org.people["aud"]) if a.rule == "probe_cases"]
    assert found.searches == [first.search_id, second.search_id]
    assert "the same face" in found.summary and stranger.search_id not in found.searches
    # Once the probes are purged (their retention), their templates go with them.
    purge_expired_probes(ctx, now=utc_now() + timedelta(days=400))
    with ctx.sessions() as s:
        assert s.scalar(select(func.count(ProbeTemplateRow.id))) == 0


def test_a_probe_template_edited_or_removed_fails_verification(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    done = org.search(("bookings",), probe_of(people[1]), case_number="2026-000101")
    assert _verify(ctx) is None
    with ctx.transaction() as s:  # an insider hides the face from the probe_cases rule
        s.execute(update(ProbeTemplateRow).values(vector=b"\0" * 2048))
    problem = _verify(ctx)
    assert problem is not None and f"probe_templates of search {done.search_id}" in problem
    with ctx.transaction() as s:
        s.execute(delete(ProbeTemplateRow))
    problem = _verify(ctx)
    assert problem is not None and f"probe_templates of search {done.search_id}" in problem
