"""The ``protected_activity`` alert over real searches (issue 25): a photo of a demonstration
(six LFW faces composed into one image) searched and held for approval raises it; three faces
of one photo searched under three case numbers raise it once, naming the three searches, and
none of their requesters may handle it; a booking photo searched once and the two faces of a
photo of two people raise nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from facetrail.errors import PermissionDeniedError
from facetrail.governance.credentials import Role
from facetrail.services.context import AppContext
from facetrail.services.oversight import alerts
from facetrail.services.searching.search import ProbeImage
from facetrail.services.waiting import work_waiting
from tests.conftest import needs_lfw
from tests.crowd import composed_photo
from tests.mail import smtp
from tests.org import AGENCY, Org
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]
pytestmark = needs_lfw

RULE = "protected_activity"


def composed(people: list[Path], name: str) -> tuple[ProbeImage, ...]:
    """One photo of these people (each by the photo ``probe_of`` takes)."""
    return (ProbeImage(name, composed_photo([sorted(p.glob("*.jpg"))[1] for p in people])),)


def raised(org: Org) -> list[alerts.AlertView]:
    """The protected_activity alerts the rules raise now (oldest first)."""
    new = set(alerts.raise_alerts(org.ctx)[AGENCY])
    found = [a for a in alerts.list_alerts(org.ctx, org.people["head"]) if a.id in new]
    return [a for a in reversed(found) if a.rule == RULE]


def test_ordinary_searches_stay_quiet_and_a_crowd_probe_fires(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    booking = org.search(("bookings",), probe_of(people[0]), case_number="2026-000701")
    two = composed(people[:2], "two.jpg")
    pair = [
        org.search(("bookings",), two, case_number=case, face=face)
        for face, case in ((0, "2026-000702"), (1, "2026-000703"))
    ]
    assert booking.status == "done" and [s.status for s in pair] == ["done", "done"]
    assert raised(org) == []

    crowd = org.search(
        ("bookings",), composed(people, "demonstration.jpg"), case_number="2026-000704"
    )
    assert crowd.status == "pending"  # held for a supervisor's approval
    (alert,) = raised(org)
    assert alert.searches == [crowd.search_id] and alert.user == "ivy"
    assert "a crowd probe" in alert.summary
    assert raised(org) == []  # raised once


def test_three_faces_of_one_photo_under_three_cases_fire_once(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    ctx: AppContext = org.ctx
    # ada heads the agency and searches too: an alert over her search is not hers to handle.
    org.add("ada", AGENCY, Role.INVESTIGATOR, Role.AGENCY_HEAD)
    three = composed(people[:3], "three.jpg")
    searches = [
        org.search(("bookings",), three, who=who, case_number=case, face=face)
        for who, face, case in (
            ("ivy", 0, "2026-000801"),
            ("ivy", 1, "2026-000802"),
            ("ada", 2, "2026-000803"),
        )
    ]
    assert [s.status for s in searches] == ["done"] * 3  # three faces are no crowd
    (alert,) = raised(org)
    assert alert.searches == [s.search_id for s in searches]
    assert "searched 3 times for 3 of its faces under 3 case numbers" in alert.summary
    assert alert.user == "ivy"
    assert raised(org) == []

    note = "asked ivy and ada: three suspects of one robbery"
    waiting = {who: work_waiting(ctx, org.people[who]).alerts for who in ("head", "ada")}
    assert waiting["ada"] == waiting["head"] - 1  # not the alert over her search
    with pytest.raises(PermissionDeniedError, match="about you"):
        alerts.close_alert(ctx, org.people["ada"], alert.id, note)
    assert alerts.close_alert(ctx, org.people["aud"], alert.id, note).status == "closed"
