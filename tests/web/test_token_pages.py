"""One's own API tokens in the browser: the list names this browser's session, a new token
is made only with the password and a fresh code and shown once, it works on the API until it
is revoked from the page, revoking this browser's session signs it out, and someone else's
token cannot be revoked by its id. Each step is the service's, audited (refusals too)."""

from __future__ import annotations

import re

from facetrail.governance import credentials
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import PASSWORD
from tests.web.conftest import (
    csrf_in,
    is_error_page,
    last_kinds,
    recovery_code_for,
    signed_in_client,
)

pytestmark = needs_lfw


def test_a_token_is_made_shown_once_used_and_revoked(web_world: World) -> None:
    ian = signed_in_client(web_world, "ian")
    listed = ian.get("/account/tokens")
    assert listed.status_code == 200 and "sign-in session" in listed.text
    assert "(this browser)" in listed.text
    assert last_kinds(web_world, 2) == ["auth.token.use", "auth.token.list"]
    csrf = csrf_in(listed.text)

    wrong = ian.post(
        "/account/tokens",
        data={
            "csrf_token": csrf,
            "name": "nightly",
            "days": "7",
            "password": PASSWORD,
            "code": "000000",
        },
    )
    assert wrong.status_code == 401 and "Copy it now" not in wrong.text
    assert 'value="nightly"' in wrong.text  # kept as typed
    assert "auth.token.issue.refused" in last_kinds(web_world, 3)

    made = ian.post(
        "/account/tokens",
        data={
            "csrf_token": csrf,
            "name": "nightly",
            "days": "7",
            "password": PASSWORD,
            "code": recovery_code_for(web_world, "ian"),
        },
    )
    assert made.status_code == 200 and "Copy it now" in made.text
    assert made.headers["cache-control"] == "no-store"
    token = re.search(r'id="token" value="([^"]+)"', made.text)
    assert token is not None
    bearer = {"Authorization": f"Bearer {token[1]}"}
    assert web_world.client.get("/api/v1/me", headers=bearer).json()["username"] == "ian"
    token_id = credentials.secret_hash(token[1])[:12]
    page = ian.get("/account/tokens").text
    assert f"<code>{token_id}</code>" in page and "nightly" in page
    assert token[1] not in page  # shown once, never again

    revoked = ian.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/account/tokens?revoked={token_id}"
    assert "auth.token.revoke" in last_kinds(web_world, 2)
    assert web_world.client.get("/api/v1/me", headers=bearer).status_code == 401
    every = ian.get("/account/tokens?all=1").text
    assert "Revoked" in every and f"Revoke {token_id}" not in every


def test_revoking_this_browsers_session_signs_it_out(web_world: World) -> None:
    ivy = signed_in_client(web_world, "ivy")
    listed = ivy.get("/account/tokens").text
    session = re.search(
        r"<code>([0-9a-f]{12})</code></td>\s*<td>sign-in session <strong>\(this browser\)", listed
    )
    assert session is not None
    answer = ivy.post(f"/account/tokens/{session[1]}/revoke", data={"csrf_token": csrf_in(listed)})
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    assert ivy.get("/account/tokens").status_code in (303, 401)


def test_someone_elses_token_is_not_revoked_by_its_id(web_world: World) -> None:
    gus = signed_in_client(web_world, "gus")
    ian = signed_in_client(web_world, "ian")
    ians = re.findall(r"<code>([0-9a-f]{12})</code>", ian.get("/account/tokens").text)
    page = gus.get("/account/tokens").text
    for token_id in (ians[0], "not-an-id"):
        answer = gus.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_in(page)})
        assert answer.status_code == 404 and is_error_page(answer.text, "not_found")
        assert last_kinds(web_world) == ["auth.token.revoke.refused"]
    assert ian.get("/account/tokens").status_code == 200  # still signed in
