"""Another person's sign-ins in the browser, without a browser: the head sees a colleague's
working sign-ins by id, revokes one with a reason (a short one is said on the form, as typed),
and the session stops working; a colleague without the say is refused (recorded), and the
page never shows a token itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from facetrail.errors import TokenInvalidError
from facetrail.governance.credentials import Role, secret_hash
from facetrail.services.signin import authentication
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import sign_in
from tests.web.conftest import csrf_in, is_error_page, last_kinds

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def test_the_head_revokes_one_sign_in_of_a_colleague(web_world: World, client_of: Clients) -> None:
    web_world.org.add("rita", "county", Role.INVESTIGATOR)
    first = sign_in(web_world.ctx, web_world.org.enrolments["rita"])
    second = sign_in(web_world.ctx, web_world.org.enrolments["rita"])
    one = secret_hash(first.token)[:12]

    head = client_of("head")
    person = head.get("/agency/people/rita").text
    assert 'href="/agency/people/rita/access"' in person
    page = head.get("/agency/people/rita/access")
    assert page.status_code == 200 and f"<code>{one}</code>" in page.text
    assert first.token not in page.text and secret_hash(first.token) not in page.text
    assert last_kinds(web_world) == ["auth.token.list"]

    sent = {"csrf_token": csrf_in(page.text), "token": one}
    short = head.post("/agency/people/rita/access", data=sent | {"reason": "lost"})
    assert short.status_code == 422 and "needs 10+ chars" in short.text
    assert ">lost</textarea>" in short.text and 'aria-invalid="true"' in short.text
    done = head.post(
        "/agency/people/rita/access", data=sent | {"reason": "the phone was left on a train"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?revoked=1")
    assert "1 revoked: it no longer works" in head.get(done.headers["location"]).text
    with pytest.raises(TokenInvalidError):
        authentication.authenticate(web_world.ctx, first.token)
    assert authentication.authenticate(web_world.ctx, second.token).username == "rita"


def test_a_colleague_without_the_say_is_refused(client_of: Clients, web_world: World) -> None:
    ivy = client_of("ivy")
    refused = ivy.get("/agency/people/sam/access")
    assert refused.status_code == 403 and is_error_page(refused.text, "permission_denied")
    assert last_kinds(web_world) == ["auth.token.list.refused"]


def test_the_person_page_offers_only_what_the_head_may_do(client_of: Clients) -> None:
    """A gallery admin holds a platform role: only a system admin suspends them or revokes
    their sign-ins, so their page offers the head neither (the authority module's rule)."""
    head = client_of("head")
    gus = head.get("/agency/people/gus").text
    assert "Suspend gus" not in gus and "/agency/people/gus/access" not in gus
    root = client_of("root").get("/agency/people/gus").text
    assert "Suspend gus" in root and "/agency/people/gus/access" in root
