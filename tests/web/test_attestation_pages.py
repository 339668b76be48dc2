"""The attestation on the new-search form, without a browser (issue 25): the form shows the
words to attest to as a required box; a search sent without it comes back refused with the
box marked and what was typed kept. Once the county marks an offense as close to protected
activity, the form asks for the second reason, a search under it without one is refused on
the form, and the supervisor's approval page shows the reason it was given."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from fastapi.testclient import TestClient

from facetrail.governance.attestation import ATTESTATION
from facetrail.governance.policy import DEFAULT_OFFENSES, ApprovalMode
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import JUSTIFICATION
from tests.web.conftest import csrf_in

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]

ASSEMBLY = "unlawful-assembly"
CONDUCT = "Set fire to a parked police car on Elm St after the crowd had left."


def _send(world: World, ivy: TestClient, case: str, **more: str) -> str:
    """The form sent with a photo -> its status and page (a search made: 303 to its page)."""
    photo = next(iter(world.photos.values())).read_bytes()
    sent = ivy.post(
        "/searches/new",
        data={
            "csrf_token": csrf_in(ivy.get("/").text),
            "case_number": case,
            "offense": "armed-robbery",
            "justification": JUSTIFICATION,
            "galleries": ["bookings"],
        }
        | more,
        files=[("probes", ("probe.jpg", photo, "image/jpeg"))],
    )
    return f"{sent.status_code} {sent.text}"


def test_the_form_asks_for_the_attestation(web_world: World, client_of: Clients) -> None:
    ivy = client_of("ivy")
    form = ivy.get("/searches/new").text
    assert escape(ATTESTATION) in form and 'name="attest" value="true" required' in form
    assert 'name="protected_reason"' not in form  # the county marks no offense yet

    refused = _send(web_world, ivy, "2026-000941")
    assert refused.startswith("403") and "<code>attestation_missing</code>" in refused
    assert 'value="2026-000941"' in refused  # kept as typed
    assert '<fieldset class="attestation" aria-invalid="true"' in refused
    assert _send(web_world, ivy, "2026-000942", attest="true").startswith("303")


def test_a_marked_offense_asks_for_a_second_reason(web_world: World, client_of: Clients) -> None:
    before = web_world.org.set_policy()
    web_world.org.set_policy(
        offenses=(*DEFAULT_OFFENSES, ASSEMBLY),
        protected_offenses=(ASSEMBLY,),
        approval=ApprovalMode.LISTED,
        approval_offenses=(ASSEMBLY,),
    )
    try:
        ivy = client_of("ivy")
        form = ivy.get("/searches/new").text
        assert 'name="protected_reason"' in form and "unlawful assembly" in form
        short = _send(web_world, ivy, "2026-000943", offense=ASSEMBLY, attest="true")
        assert short.startswith("403") and "second reason of at least 30 characters" in short
        held = _send(
            web_world,
            ivy,
            "2026-000944",
            offense=ASSEMBLY,
            attest="true",
            protected_reason=CONDUCT,
        )
        assert held.startswith("303")
        approvals = client_of("sam").get("/approvals").text
        assert escape(CONDUCT) in approvals and "close to protected activity" in approvals
        assert escape(ATTESTATION) in approvals
    finally:
        web_world.org.set_policy(
            offenses=before.offenses,
            protected_offenses=(),
            approval=before.approval,
            approval_offenses=before.approval_offenses,
        )
