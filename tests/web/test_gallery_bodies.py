"""A gallery form and its API twin read the same model (``edge.bodies.galleries``): a value
over a limit is refused by both, at the same limit, and the form says so on itself, in words,
keeping what was typed; the value at the limit is taken by both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import needs_lfw
from tests.web.conftest import csrf_in

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]

#: The tests' own gallery, so that the sources they make show on no page others check.
GALLERY = "/galleries/twins"
_SOURCE = {
    "name": "twin",
    "kind": "consented photographs",
    "legal_basis": "Written consent, County Order 7/2026",
    "supplied_by": "County Sheriff",
    "collected_at": "2026-10-01",
    "retention_days": "730",
}


def _words(length: int, word: str) -> str:
    """Text of ``length`` characters made of words (a long name wraps on a narrow page)."""
    return ((word + " ") * length)[: length - 1] + "x"


@pytest.fixture()
def gus(client_of: Clients) -> TestClient:
    """The gallery admin, with the tests' gallery made."""
    client = client_of("gus")
    if client.get(GALLERY).status_code == 404:
        csrf = csrf_in(client.get("/galleries").text)
        made = client.post("/galleries", data={"csrf_token": csrf, "name": "twins"})
        assert made.status_code == 303, made.text
    return client


def _form(client: TestClient, sent: dict[str, str]) -> Any:
    """``sent`` posted by the gallery page's form for a new source."""
    csrf = csrf_in(client.get(GALLERY).text)
    return client.post(f"{GALLERY}/sources", data={"csrf_token": csrf, **sent})


def _api(client: TestClient, sent: dict[str, str]) -> Any:
    """``sent`` as JSON to the API's twin of that form (same person, same session)."""
    csrf = csrf_in(client.get(GALLERY).text)
    body = {k: int(v) if k == "retention_days" else v for k, v in sent.items()}
    return client.post(f"/api/v1{GALLERY}/sources", json=body, headers={"X-CSRF-Token": csrf})


@pytest.mark.parametrize(
    ("field", "over", "said", "limit"),
    [
        ("retention_days", "36501", "retention days is at most 36500", "36500"),
        ("name", _words(201, "name"), "name takes at most 200 characters", "200"),
        ("legal_basis", _words(2001, "law"), "legal basis takes at most 2000 characters", "2000"),
    ],
)
def test_a_new_source_is_refused_alike_by_its_form_and_the_api(
    gus: TestClient, field: str, over: str, said: str, limit: str
) -> None:
    sent = _SOURCE | {field: over}
    form = _form(gus, sent)
    assert form.status_code == 422 and said in form.text
    assert 'id="error"' in form.text and "Add a source" in form.text  # on the form, in words
    assert over in form.text  # kept as typed
    api = _api(gus, sent)
    assert api.status_code == 422 and api.json()["code"] == "invalid_request"
    (problem,) = api.json()["errors"]
    assert problem["field"] == f"body.{field}" and limit in problem["problem"]


def test_the_values_at_the_limits_are_taken_by_both(gus: TestClient) -> None:
    at_limit = _SOURCE | {"retention_days": "36500", "legal_basis": _words(2000, "law")}
    by_form = at_limit | {"name": _words(200, "form")}
    assert _form(gus, by_form).status_code == 303
    by_api = at_limit | {"name": _words(200, "api")}
    answer = _api(gus, by_api)
    assert answer.status_code == 201, answer.text
    assert answer.json()["retention_days"] == 36500
