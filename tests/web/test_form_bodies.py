"""A web form and its API twin read the same model (``facetrail.edge.bodies``): what one
refuses the other refuses, at the same limit, and the form says it in words on the form
itself, with what was typed kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import csrf_in

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def _api_fields(answer: Any) -> list[str]:
    """The fields a refused API request names (``body.name`` -> ``name``)."""
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_request"
    return [e["field"].removeprefix("body.") for e in answer.json()["errors"]]


def test_an_agency_name_over_200_characters_is_refused_by_the_form_and_the_api(
    web_world: World, client_of: Clients
) -> None:
    """Before, the form checked the name with its own limit, before the refusal could be
    shown on the form (an error page instead)."""
    root = client_of("root")
    token = csrf_in(root.get("/agencies").text)
    too_long = "h" * 201
    on_form = root.post(
        "/agencies",
        data={"csrf_token": token, "what": "agency", "name": too_long, "trial_days": "14"},
    )
    assert on_form.status_code == 422 and "name takes at most 200 characters" in on_form.text
    assert f'value="{too_long}"' in on_form.text and 'aria-invalid="true"' in on_form.text
    by_api = root.post(
        "/api/v1/agencies",
        json={"name": too_long, "trial_days": 14},
        headers={"X-CSRF-Token": token},
    )
    assert _api_fields(by_api) == ["name"] and "200 characters" in by_api.json()["detail"]
    names = root.get("/agencies").text
    assert too_long not in names and too_long[:200] not in names  # neither made one


def test_trial_days_past_a_year_are_refused_by_the_form_and_the_api(
    web_world: World, client_of: Clients
) -> None:
    """Before, the API took up to 3650 days and the policy then refused anything over 365."""
    root = client_of("root")
    token = csrf_in(root.get("/agencies").text)
    on_form = root.post(
        "/agencies",
        data={"csrf_token": token, "what": "agency", "name": "tideway", "trial_days": "366"},
    )
    assert on_form.status_code == 422 and "trial days is at most 365" in on_form.text
    assert 'value="366"' in on_form.text
    by_api = root.post(
        "/api/v1/agencies",
        json={"name": "tideway", "trial_days": 366},
        headers={"X-CSRF-Token": token},
    )
    assert _api_fields(by_api) == ["trial_days"]
    assert "tideway" not in root.get("/agencies").text


def test_a_suspension_without_a_reason_is_refused_by_the_form_and_the_api(
    web_world: World, client_of: Clients
) -> None:
    root = client_of("root")
    token = csrf_in(root.get("/agency/people/ian").text)
    on_form = root.post("/agency/people/ian", data={"csrf_token": token, "step": "suspend"})
    assert on_form.status_code == 422 and "reason is needed" in on_form.text
    assert "Suspend ian" in on_form.text  # the person's page, its forms still there
    by_api = root.post("/api/v1/accounts/ian/suspension", json={}, headers={"X-CSRF-Token": token})
    assert _api_fields(by_api) == ["reason"]
    assert '<span class="status">suspended</span>' not in root.get("/agency/people/ian").text


def test_a_trial_account_is_added_with_the_apis_account_type_field(
    web_world: World, client_of: Clients
) -> None:
    """The form's checkbox is the API's ``account_type`` (it was a form-only ``trial``)."""
    head = client_of("head")
    form = head.get("/agency/people/new").text
    assert 'name="account_type" value="trial"' in form
    sent = {"csrf_token": csrf_in(form), "username": "tess", "email": "tess@county.example"}
    bad_role = head.post("/agency/people/new", data=sent | {"roles": ["sheriff"]})
    assert bad_role.status_code == 422 and "roles is one of" in bad_role.text
    assert 'value="tess"' in bad_role.text  # kept as typed
    added = head.post(
        "/agency/people/new", data=sent | {"roles": ["investigator"], "account_type": "trial"}
    )
    assert added.status_code == 200 and "Added tess" in added.text
    assert "<dt>Account</dt><dd>trial" in head.get("/agency/people/tess").text
