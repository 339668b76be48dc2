"""No one handles an alert over their own search, whatever its rule: a head who also
investigates searched one probe under two case numbers, so the ``probe_cases`` alert (which
names no single person) is not hers to acknowledge or close, nor counted as waiting for her;
an auditor handles it."""

from __future__ import annotations

import pytest

from facetrail.errors import PermissionDeniedError
from facetrail.governance.credentials import Role
from facetrail.services.oversight import alerts
from facetrail.services.waiting import work_waiting
from tests.conftest import needs_lfw
from tests.mail import smtp
from tests.org import AGENCY
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]
pytestmark = needs_lfw


def test_a_head_who_searched_does_not_handle_the_alert(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    org.add("ada", AGENCY, Role.INVESTIGATOR, Role.AGENCY_HEAD)
    probe = probe_of(people[0])
    for case in ("2026-000951", "2026-000952"):
        assert org.search(("bookings",), probe, who="ada", case_number=case).status == "done"
    new = set(alerts.raise_alerts(org.ctx)[AGENCY])
    listed = alerts.list_alerts(org.ctx, org.people["head"])
    (alert,) = [a for a in listed if a.id in new and a.rule == "probe_cases"]
    waiting = {who: work_waiting(org.ctx, org.people[who]).alerts for who in ("head", "ada")}
    assert waiting["ada"] == waiting["head"] - len([a for a in listed if a.id in new])
    note = "asked ada why one photo is under two cases"
    with pytest.raises(PermissionDeniedError, match="about you"):
        alerts.acknowledge_alert(org.ctx, org.people["ada"], alert.id, note)
    assert alerts.close_alert(org.ctx, org.people["aud"], alert.id, note).status == "closed"
