"""A crowd probe on the new-search form, without a browser (issue 25): once the county's
policy refuses crowds, a photo of six people is refused on the form, in words with its code,
with what was typed kept, and the refusal is recorded; a photo of one person still searches."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.conftest import lfw_people, needs_lfw
from tests.crowd import composed_photo
from tests.org import JUSTIFICATION
from tests.web.conftest import csrf_in

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def test_a_refused_crowd_is_said_on_the_form(web_world: World, client_of: Clients) -> None:
    rally = composed_photo([sorted(p.glob("*.jpg"))[0] for p in lfw_people(6)])
    web_world.org.set_policy(crowd_probes="refuse")
    try:
        ivy = client_of("ivy")
        sent = ivy.post(
            "/searches/new",
            data={
                "csrf_token": csrf_in(ivy.get("/").text),
                "case_number": "2026-000821",
                "offense": "armed-robbery",
                "justification": JUSTIFICATION,
                "attest": "true",
                "galleries": ["bookings"],
            },
            files=[("probes", ("rally.jpg", rally, "image/jpeg"))],
        )
        assert sent.status_code == 403 and "<code>crowd_probe</code>" in sent.text
        assert "a crowd probe: the photo holds" in sent.text
        assert 'value="2026-000821"' in sent.text  # kept as typed
        with web_world.ctx.sessions() as s:
            kinds = s.scalars(
                select(AuditEntryRow.kind).where(AuditEntryRow.subject == "2026-000821")
            ).all()
        assert "search.refused" in kinds
    finally:
        web_world.org.set_policy(crowd_probes="approval")  # the shared world as it was
