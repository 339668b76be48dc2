"""The oversight pages' forms and their API twins read one model each (``edge.bodies``): the
same value over a limit is refused by both, with the same limit, and the value at the limit
passes both. Whatever a service then decides is the services' own tests' business."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from httpx2 import Response

from facetrail.services.authorization import utc_now
from facetrail.services.oversight import alerts, policy
from facetrail.services.signin.authentication import add_token
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import csrf_in, is_error_page, search_by

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def _api_as(world: World, name: str) -> dict[str, str]:
    """A bearer session of ``name``'s (no sign-in: the pages' clients keep the TOTP codes)."""
    with world.ctx.transaction() as session:
        user_id = world.org.people[name].user_id
        token, _ = add_token(session, user_id, "session", utc_now() + timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def _open_alert(world: World) -> int:
    """An open alert of county's about ian, raised for this test."""
    searches = {search_by(world, "ian", case) for case in ("2026-000931", "2026-000932")}
    alerts.raise_alerts(world.ctx)
    found = alerts.list_alerts(world.ctx, world.org.people["head"], None, "open")
    return next(a.id for a in found if searches & set(a.searches))


def test_an_alert_note_takes_at_most_2000_characters_on_the_page_and_in_the_api(
    web_world: World, client_of: Clients
) -> None:
    alert_id = _open_alert(web_world)
    aude = client_of("aude")
    token = csrf_in(aude.get("/alerts").text)
    api = _api_as(web_world, "head")

    def on_page(step: str, note: str) -> Response:
        return aude.post(
            f"/alerts/{alert_id}", data={"csrf_token": token, "step": step, "note": note}
        )

    long_page = on_page("acknowledge", "x" * 2001)
    assert long_page.status_code == 422 and is_error_page(long_page.text, "invalid_request")
    assert "note takes at most 2000 characters" in long_page.text
    long_api = web_world.client.post(
        f"/api/v1/alerts/{alert_id}/acknowledgement", json={"note": "x" * 2001}, headers=api
    )
    assert long_api.status_code == 422 and "2000" in long_api.json()["detail"]
    # Exactly the limit: both pass it on to the service, which takes it.
    seen = on_page("acknowledge", "x" * 2000)
    assert seen.status_code == 303 and seen.headers["location"] == f"/alerts?done={alert_id}"
    closed = web_world.client.post(
        f"/api/v1/alerts/{alert_id}/closure", json={"note": "y" * 2000}, headers=api
    )
    assert closed.status_code == 200 and closed.json()["close_note"] == "y" * 2000


def test_an_erasure_reference_over_200_characters_is_refused_alike_on_the_form_and_the_api(
    web_world: World, client_of: Clients
) -> None:
    photo = next(iter(web_world.photos.values()))
    fields = {"reference": "R" * 201, "identity_check": "passport seen at the desk"}
    upload = [("photos", (photo.name, photo.read_bytes(), "image/jpeg"))]
    gus = client_of("gus")
    token = csrf_in(gus.get("/erasures").text)
    on_page = gus.post("/erasures", data={"csrf_token": token, **fields}, files=upload)
    # Said on the form, with what was typed kept.
    assert on_page.status_code == 422 and "A new request" in on_page.text
    assert "reference takes at most 200 characters" in on_page.text
    assert 'value="' + "R" * 201 + '"' in on_page.text
    in_api = web_world.client.post(
        "/api/v1/erasures", data=fields, files=upload, headers=_api_as(web_world, "gus")
    )
    assert in_api.status_code == 422, in_api.text
    problem = in_api.json()
    assert problem["detail"] == "reference takes at most 200 characters"
    assert problem["subject"] == "reference"


def test_an_open_case_list_takes_at_most_100000_numbers_from_a_file_or_the_api(
    web_world: World, client_of: Clients
) -> None:
    numbers = [f"2026-{n:06d}" for n in range(100_001)]
    head = client_of("head")
    token = csrf_in(head.get("/alerts").text)
    exported = ("case_number\n" + "\n".join(numbers) + "\n").encode()
    on_page = head.post(
        "/alerts/open-cases",
        data={"csrf_token": token},
        files=[("file", ("open.csv", exported, "text/csv"))],
    )
    assert on_page.status_code == 422 and is_error_page(on_page.text, "invalid_request")
    assert "case numbers takes at most 100000 values" in on_page.text
    in_api = web_world.client.put(
        "/api/v1/agencies/county/open-cases",
        json={"case_numbers": numbers},
        headers=_api_as(web_world, "head"),
    )
    assert in_api.status_code == 422 and "100000" in in_api.json()["detail"]


def _proposed_relaxation(world: World) -> int:
    """A relaxation of county's oversight the head proposed, waiting for a second person."""
    head = world.org.people["head"]
    rules = policy.show_policy(world.ctx, head, "county").policy
    off = {"alerts": {"disabled": [*rules.alerts.disabled, "volume"]}}
    made = policy.amend_policy(world.ctx, head, "county", off, "volume alerts repeat the digest")
    assert made.proposal is not None and made.proposal.status == "pending"
    return made.proposal.id


def test_a_relaxation_note_over_2000_characters_is_said_on_the_policy_page_as_in_the_api(
    web_world: World, client_of: Clients
) -> None:
    number = _proposed_relaxation(web_world)
    aude, api = client_of("aude"), _api_as(web_world, "aude")
    token = csrf_in(aude.get("/agencies/county/policy").text)
    long = "n" * 2001
    on_page = aude.post(
        f"/agencies/county/policy/relaxations/{number}",
        data={"csrf_token": token, "decision": "refuse", "note": long},
    )
    # Said on the policy page beside the relaxation, with the note as typed.
    assert on_page.status_code == 422 and "Rules in force" in on_page.text
    assert "note takes at most 2000 characters" in on_page.text and f">{long}</textarea>" in (
        on_page.text
    )
    in_api = web_world.client.post(
        f"/api/v1/relaxations/{number}/refusal", json={"note": long}, headers=api
    )
    assert in_api.status_code == 422 and "2000" in in_api.json()["detail"]
    refused = web_world.client.post(
        f"/api/v1/relaxations/{number}/refusal", json={"note": "n" * 2000}, headers=api
    )
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
