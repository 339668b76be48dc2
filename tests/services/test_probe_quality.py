"""A probe face too poor to search well (issue 22: warn before searching): the preview and the
result say why in words, and an agency whose policy refuses such probes gets a typed, audited
refusal with nothing searched; a good photo is searched either way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from facetrail.errors import ProbeQualityError
from facetrail.governance.probe_quality import quality_warnings
from facetrail.services.context import AppContext
from facetrail.services.searching.probe_preview import preview_faces
from facetrail.services.searching.search import ProbeImage, SearchRequest
from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.conftest import needs_lfw
from tests.mail import smtp
from tests.org import CASE, JUSTIFICATION, OFFENSE
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]


def test_the_limits_in_words() -> None:
    assert quality_warnings(25.0, 150.0, 10.0) == []
    small, blurred, turned = (
        quality_warnings(9.6, 150.0, 0.0),
        quality_warnings(25.0, 3.7, 0.0),
        quality_warnings(25.0, 150.0, -60.0),
    )
    assert small == ["too small: the eyes are 10 pixels apart (15 or more are needed)"]
    assert blurred == ["blurred: sharpness 4 (15 or more is needed)"]
    assert turned == ["turned away: about 60 degrees from facing the camera (45 at most)"]
    assert len(quality_warnings(9.0, 3.0, 50.0)) == 3


def _shrunk(probe: tuple[ProbeImage, ...]) -> tuple[ProbeImage, ...]:
    """The same photo at 40% of its size: its face's eyes about 10 px apart."""
    image = cv2.imdecode(np.frombuffer(probe[0].data, np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small)
    assert ok
    return (ProbeImage("small.jpg", bytes(jpeg)),)


@needs_lfw
def test_a_poor_probe_is_warned_of_and_refused_where_the_policy_says(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    good, poor = probe_of(people[1]), _shrunk(probe_of(people[1]))
    asked = SearchRequest(
        requester=org.people["ivy"],
        case_number=CASE,
        offense=OFFENSE,
        justification=JUSTIFICATION,
        galleries=("bookings",),
        probes=poor,
    )
    (face,) = [f for f in preview_faces(ctx, asked) if f.used]
    assert face.warnings and face.warnings[0].startswith("too small: the eyes are")

    warned = org.search(("bookings",), poor)  # the default policy: searched, with a warning
    (used,) = [f for f in warned.probe_faces if f.used]
    assert warned.status == "done" and used.warnings == face.warnings

    org.set_policy(low_quality_probes="refuse")
    with pytest.raises(ProbeQualityError, match="too small") as refused:
        org.search(("bookings",), poor, case_number="2026-000444")
    assert "choose a clearer photo" in refused.value.message
    with ctx.sessions() as session:
        record = session.scalar(
            select(SearchRecord).where(SearchRecord.case_number == "2026-000444")
        )
        assert record is not None and record.status == "failed" and record.fault == "input"
        kinds = session.scalars(
            select(AuditEntryRow.kind).where(AuditEntryRow.subject == f"search:{record.id}")
        ).all()
    assert "search.failed" in kinds and "search.run" not in kinds
    assert org.search(("bookings",), good, case_number="2026-000445").status == "done"
