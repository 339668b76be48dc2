"""The new-search form and the API's search read one model (``edge.bodies.searching.SearchAsk``):
a value over a limit is refused by both with the same words, before anything is searched or
stored; the page says it on the form, with what was typed kept, and the API as a problem.
Before, the web had its own limits (its face and number of candidates parsed by hand)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facetrail.edge.bodies.searching import MAX_TOP
from facetrail.services.authorization import utc_now
from facetrail.services.signin.authentication import add_token
from facetrail.store.schema import SearchRecord
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import JUSTIFICATION
from tests.web.conftest import csrf_in

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]

_FIELDS = {
    "case_number": "2026-000971",
    "offense": "armed-robbery",
    "justification": JUSTIFICATION,
    "attest": "true",
    "galleries": ["bookings"],
}


def _api_as(world: World, name: str) -> dict[str, str]:
    """A bearer session of ``name``'s (no sign-in: the pages' clients keep the TOTP codes)."""
    with world.ctx.transaction() as session:
        user_id = world.org.people[name].user_id
        token, _ = add_token(session, user_id, "session", utc_now() + timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def _searches(world: World) -> int:
    with world.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(SearchRecord)) or 0)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("top", str(MAX_TOP + 1), f"top is at most {MAX_TOP}"),
        ("top", "0", "top is at least 1"),
        ("top", "twenty", "top is a whole number"),
        ("face", "1001", "face is at most 1000"),
        ("case_number", "2" * 5001, "case number takes at most 5000 characters"),
    ],
)
def test_a_bad_search_value_is_refused_alike_on_the_form_and_in_the_api(
    web_world: World, client_of: Clients, field: str, value: str, words: str
) -> None:
    photo = next(iter(web_world.photos.values()))
    probe = [("probes", (photo.name, photo.read_bytes(), "image/jpeg"))]
    sent: dict[str, Any] = _FIELDS | {field: value}
    before = _searches(web_world)
    ivy = client_of("ivy")
    token = csrf_in(ivy.get("/searches/new").text)
    on_page = ivy.post("/searches/new", data={"csrf_token": token, **sent}, files=probe)
    # Said on the form, the field marked, with what was typed kept (a face is the face
    # picker's choice, which its script offers again).
    assert on_page.status_code == 422 and words in on_page.text
    assert f'name="case_number" value="{sent["case_number"]}"' in on_page.text
    if field != "face":
        after = on_page.text.split(f'name="{field}" value="{value}"', 1)[1]
        assert 'aria-invalid="true"' in after.split(">", 1)[0]
    in_api = web_world.client.post(
        "/api/v1/searches", data=sent, files=probe, headers=_api_as(web_world, "ivy")
    )
    assert in_api.status_code == 422, in_api.text
    assert in_api.headers["content-type"] == "application/problem+json"
    problem = in_api.json()
    assert (problem["code"], problem["subject"], problem["detail"]) == (
        "invalid_request",
        field,
        words,
    )
    assert _searches(web_world) == before


def test_the_form_and_the_api_document_the_same_limit(web_world: World, client_of: Clients) -> None:
    """The form offers its own first number of candidates (20; the API's default is 50, for
    programs that rank themselves), under the limit the API documents."""
    form = client_of("ivy").get("/searches/new").text
    assert 'name="top" value="20"' in form and f'max="{MAX_TOP}"' in form
    schema = web_world.client.get("/openapi.json").json()
    body = schema["paths"]["/api/v1/searches"]["post"]["requestBody"]
    fields = body["content"]["multipart/form-data"]["schema"]["properties"]
    assert fields["top"]["maximum"] == MAX_TOP and fields["top"]["default"] == 50
    assert {"probes", "case_number", "offense", "justification", "galleries"} <= set(fields)
