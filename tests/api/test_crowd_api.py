"""A crowd probe through the API (issue 25): the preview marks every face of a photo of six
people as a crowd's, the search is held for a supervisor's approval and says why, and once the
policy refuses crowds the same photo is a 403 ``crowd_probe`` problem, recorded."""

from __future__ import annotations

from httpx2 import Response
from sqlalchemy import select

from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.conftest import lfw_people, needs_lfw
from tests.crowd import composed_photo
from tests.org import CASE, JUSTIFICATION, OFFENSE

pytestmark = needs_lfw

FORM = {
    "offense": OFFENSE,
    "justification": JUSTIFICATION,
    "galleries": ["bookings"],
    "attest": "true",
}


def _send(world: World, path: str, photo: bytes, case: str) -> Response:
    return world.client.post(
        path,
        data=FORM | {"case_number": case},
        files=[("probes", ("rally.jpg", photo, "image/jpeg"))],
        headers=world.as_("ivy"),
    )


def test_a_crowd_is_held_then_refused_as_the_policy_says(world: World) -> None:
    crowd = composed_photo([sorted(p.glob("*.jpg"))[0] for p in lfw_people(6)])
    preview = _send(world, "/api/v1/searches/preview", crowd, CASE)
    faces = preview.json()
    assert preview.status_code == 200 and len(faces) >= 6
    assert all("a crowd probe" in f["crowd"] for f in faces)

    held = _send(world, "/api/v1/searches", crowd, "2026-000701")
    body = held.json()
    assert held.status_code == 201 and body["status"] == "pending"
    assert body["crowd_faces"] >= 6 and body["candidates"] == []

    world.org.set_policy(crowd_probes="refuse")
    refused = _send(world, "/api/v1/searches", crowd, "2026-000702")
    problem = refused.json()
    assert refused.status_code == 403 and problem["code"] == "crowd_probe"
    assert "a crowd probe" in problem["detail"] and "Traceback" not in str(problem)
    with world.ctx.sessions() as s:
        entry = s.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.kind == "search.refused", AuditEntryRow.subject == "2026-000702")
            .order_by(AuditEntryRow.seq.desc())
        ).first()
    assert entry is not None and '"crowd_probe"' in entry.details
