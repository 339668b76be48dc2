"""Crowd probes (issue 25): a photo of a demonstration, composed here of six LFW faces in one
image, holds more faces fit to search than the county's policy allows. The policy holds such a
search for a supervisor's approval (the default) or refuses it, typed and recorded with the
faces counted, and the face picker says so before the search; a booking photo and a photo of
two people are searched at once as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from facetrail.errors import CrowdProbeError
from facetrail.services.audit.log import audit_status
from facetrail.services.searching.probe_preview import preview_faces
from facetrail.services.searching.search import ProbeImage, SearchRequest
from facetrail.store.schema import AuditEntryRow, Gallery, SearchRecord
from tests.conftest import needs_lfw
from tests.crowd import composed_photo
from tests.mail import received_bodies, smtp
from tests.org import CASE, JUSTIFICATION, OFFENSE
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]


def composed(people: list[Path], name: str) -> tuple[ProbeImage, ...]:
    """One photo of these people (each by the photo ``probe_of`` takes), as a crowd."""
    return (ProbeImage(name, composed_photo([sorted(p.glob("*.jpg"))[1] for p in people])),)


def _request(org, probes: tuple[ProbeImage, ...], case: str = CASE) -> SearchRequest:  # type: ignore[no-untyped-def]
    return SearchRequest(
        requester=org.people["ivy"],
        case_number=case,
        offense=OFFENSE,
        justification=JUSTIFICATION,
        galleries=("bookings",),
        probes=probes,
        attested=True,
    )


def _requested(org, search_id: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The ``search.request`` entry's details."""
    with org.ctx.sessions() as s:
        row = s.scalar(
            select(AuditEntryRow).where(
                AuditEntryRow.subject == f"search:{search_id}",
                AuditEntryRow.kind == "search.request",
            )
        )
        assert row is not None
        found: dict[str, object] = json.loads(row.details)
    return found


@needs_lfw
def test_a_crowd_is_held_for_approval_and_ordinary_photos_run_at_once(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    crowd = composed(people, "demonstration.jpg")

    faces = preview_faces(org.ctx, _request(org, crowd))
    assert len(faces) >= 6 and all(f.crowd for f in faces)
    assert "needs a supervisor's approval" in (faces[0].crowd or "")

    held = org.search(("bookings",), crowd, case_number="2026-000501", face=2)
    assert held.status == "pending" and held.candidates == []
    asked = _requested(org, held.search_id)
    assert asked["crowd"] is True and asked["needs_approval"] is True
    assert isinstance(asked["faces"], list) and asked["faces"][0] >= 6
    told = received_bodies(f"[facetrail] search {held.search_id} awaits your approval")
    assert told and "a crowd probe" in told[0]

    booking = org.search(("bookings",), probe_of(people[0]), case_number="2026-000502")
    two = org.search(("bookings",), composed(people[:2], "two.jpg"), case_number="2026-000503")
    assert booking.status == "done" and two.status == "done"
    assert _requested(org, two.search_id)["crowd"] is False
    assert not any(f.crowd for f in preview_faces(org.ctx, _request(org, probe_of(people[0]))))
    assert audit_status(org.ctx, org.people["head"]).ok  # each stored search agrees with its entry


@needs_lfw
def test_a_policy_that_refuses_crowds_refuses_and_records_it(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    org.set_policy(crowd_probes="refuse")
    crowd = composed(people, "demonstration.jpg")
    with pytest.raises(CrowdProbeError, match="a crowd probe") as refused:
        org.search(("bookings",), crowd, case_number="2026-000601")
    assert refused.value.code == "crowd_probe"
    with org.ctx.sessions() as s:
        assert (
            s.scalar(select(SearchRecord).where(SearchRecord.case_number == "2026-000601")) is None
        )
        entry = s.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.kind == "search.refused")
            .order_by(AuditEntryRow.seq.desc())
        ).first()
        assert entry is not None and entry.subject == "2026-000601"
        assert '"crowd_probe"' in entry.details and '"faces"' in entry.details
    # A larger crowd limit lets six faces through (raising it is a relaxation, confirmed).
    org.set_policy(crowd_faces=10)
    assert org.search(("bookings",), crowd, case_number="2026-000602").status == "done"


@needs_lfw
def test_the_crowd_count_and_the_search_find_the_faces_once(county, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Counting a probe's faces for the crowd rule costs no second detection: the search of
    a gallery of the same pack takes the faces found."""
    org, _box, people = county
    with org.ctx.sessions() as s:
        pack = s.scalar(select(Gallery.pack).where(Gallery.name == "bookings"))
    assert pack is not None
    pipeline = org.ctx.pipeline(pack)
    calls: list[int] = []
    real = pipeline.analyse

    def counted(bgr):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(bgr)

    monkeypatch.setattr(pipeline, "analyse", counted)
    done = org.search(("bookings",), probe_of(people[0]), case_number="2026-000603")
    assert done.status == "done" and len(calls) == 1
