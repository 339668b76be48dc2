"""The web app's pages as a browser meets them, without a browser: signing in through the
page (and not from another site's form), CSRF on every state-changing form (hidden field or
header, checked before the session is used), refusals as pages that name the stable code,
uploads limited before they are read, and nothing loaded from anywhere but facetrail."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from limits import parse_many, storage, strategies
from sqlalchemy import func, select

from facetrail.edge.limits import RateLimits
from facetrail.server import create_app
from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import PASSWORD
from tests.web.conftest import code_for, csrf_in, recovery_code_for, signed_in_client

pytestmark = needs_lfw


def _count(world: World, kind: str) -> int:
    with world.ctx.sessions() as s:
        query = select(func.count(AuditEntryRow.seq)).where(AuditEntryRow.kind == kind)
        return int(s.scalar(query) or 0)


def _last_kinds(world: World, count: int = 1) -> list[str]:
    with world.ctx.sessions() as s:
        newest = (  # the actions' entries (their rows' row.seal entries left out)
            select(AuditEntryRow.kind)
            .where(AuditEntryRow.kind != "row.seal")
            .order_by(AuditEntryRow.seq.desc())
            .limit(count)
        )
        return list(s.scalars(newest))[::-1]


def _last_kind(world: World) -> str:
    return _last_kinds(world)[0]


def _client(world: World) -> TestClient:
    return TestClient(world.client.app, raise_server_exceptions=False, follow_redirects=False)


def _is_error_page(html: str, code: str) -> bool:
    return f"<code>{code}</code>" in html and "Traceback" not in html


def test_a_page_sends_a_stranger_to_sign_in_and_back_afterwards(web_world: World) -> None:
    client = _client(web_world)
    answer = client.get("/approvals")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fapprovals"
    form = client.get("/signin?next=%2Fapprovals")
    assert 'name="next" value="/approvals"' in form.text
    signed = client.post(
        "/signin",
        data={
            "csrf_token": csrf_in(form.text),
            "username": "sam",
            "password": PASSWORD,
            "code": code_for(web_world, "sam"),
            "next": "/approvals",
        },
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/approvals"
    cookie = signed.headers.get_list("set-cookie")
    assert any(c.startswith("facetrail_session=") and "HttpOnly" in c for c in cookie)
    assert any("SameSite=strict" in c for c in cookie)
    page = client.get("/approvals")
    assert page.status_code == 200 and "Searches awaiting approval" in page.text


def test_sign_in_goes_nowhere_but_this_site(web_world: World) -> None:
    client = _client(web_world)
    form = client.get("/signin?next=https%3A%2F%2Fevil.example%2F")
    assert 'name="next" value="/"' in form.text
    for elsewhere in ("%2F%2Fevil.example", "%2F%09%2Fevil.example", "%2F%5Cevil.example"):
        form = client.get(f"/signin?next={elsewhere}")
        assert 'name="next" value="/"' in form.text, elsewhere


def test_a_sign_in_form_from_another_site_is_refused(web_world: World) -> None:
    """Without the value the sign-in page pairs with its cookie, nobody is signed in (another
    site cannot sign a browser in under its own account)."""
    client = _client(web_world)
    answer = client.post(
        "/signin",
        data={"username": "ivy", "password": PASSWORD, "code": "123456", "csrf_token": "x"},
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert _is_error_page(answer.text, "token_invalid")
    assert "facetrail_session" not in answer.headers.get("set-cookie", "")


def test_a_wrong_code_shows_the_form_again_with_its_code(web_world: World) -> None:
    client = _client(web_world)
    form = client.get("/signin")
    answer = client.post(
        "/signin",
        data={
            "csrf_token": csrf_in(form.text),
            "username": "ian",
            "password": PASSWORD,
            "code": "000000",
        },
    )
    assert answer.status_code == 401
    assert _is_error_page(answer.text, "auth_failed")
    assert 'value="ian"' in answer.text and 'id="error"' in answer.text
    assert _last_kind(web_world) == "auth.login.failed"


def test_a_form_without_its_csrf_value_changes_nothing(web_world: World) -> None:
    """Signing out is a state change: refused without the CSRF value, before the session is
    even used (no audited token use); accepted with it as the form field or the header."""
    ivy = signed_in_client(web_world, "ivy")
    uses = _count(web_world, "auth.token.use")
    forged = ivy.post("/signout", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and _is_error_page(forged.text, "token_invalid")
    odd = ivy.post("/signout", headers={b"X-CSRF-Token": "caf\xe9".encode("latin-1")})
    assert odd.status_code == 403 and _is_error_page(odd.text, "token_invalid")
    assert _count(web_world, "auth.token.use") == uses
    home = ivy.get("/")
    assert home.status_code == 200
    by_field = ivy.post("/signout", data={"csrf_token": csrf_in(home.text)})
    assert by_field.status_code == 303 and by_field.headers["location"] == "/signin?signed_out=1"
    assert _last_kind(web_world) == "auth.token.revoke"

    ian = signed_in_client(web_world, "ian")
    session = ian.cookies["facetrail_session"]
    token = csrf_in(ian.get("/").text)
    by_header = ian.post("/signout", headers={"X-CSRF-Token": token})
    assert by_header.status_code == 303
    # The revoked session no longer opens a page: back to sign in.
    ian.cookies.set("facetrail_session", session)
    assert ian.get("/").headers["location"] == "/signin?next=%2F"


def test_refusals_are_pages_with_the_stable_code(web_world: World) -> None:
    ivy = signed_in_client(web_world, "ivy")
    not_supervisor = ivy.get("/approvals")
    assert not_supervisor.status_code == 403
    assert _is_error_page(not_supervisor.text, "permission_denied")
    assert _last_kind(web_world) == "search.queue.refused"
    missing = ivy.get("/searches/987654")
    assert missing.status_code == 404 and _is_error_page(missing.text, "not_found")
    malformed = ivy.get("/searches/abc")
    assert malformed.status_code == 422 and _is_error_page(malformed.text, "invalid_request")
    for answer in (not_supervisor, missing, malformed):
        assert answer.headers["content-type"].startswith("text/html")


def test_an_unknown_address_is_a_page_in_a_browser_and_a_problem_for_a_program(
    web_world: World,
) -> None:
    """No route at all: a browser gets a page with the stable code, the navigation and a way
    back (it got problem+json, seen on 1d9fe3b); a program, or any path under /api/, keeps
    problem+json."""
    ivy = signed_in_client(web_world, "ivy")
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8", "referer": "/searches"}
    page = ivy.get("/does-not-exist", headers=browser)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert _is_error_page(page.text, "not_found") and "/does-not-exist" in page.text
    assert "<nav" in page.text and 'href="/searches">Go back' in page.text
    wrong_method = ivy.delete("/searches/new", headers=browser)
    assert wrong_method.status_code == 405 and _is_error_page(
        wrong_method.text, "method_not_allowed"
    )
    for program in (
        ivy.get("/does-not-exist", headers={"accept": "application/json"}),
        ivy.get("/api/v1/does-not-exist", headers=browser),
        _client(web_world).get("/does-not-exist"),
    ):
        assert program.status_code == 404
        assert program.headers["content-type"] == "application/problem+json"
        assert program.json()["code"] == "not_found"


def test_an_oversized_upload_is_refused_before_it_is_read(web_world: World) -> None:
    ivy = signed_in_client(web_world, "ivy")
    token = csrf_in(ivy.get("/searches/new").text)
    answer = ivy.post(
        "/searches/new",
        content=b"x" * 100,
        headers={
            "content-type": "multipart/form-data; boundary=b",
            "content-length": str(10**12),
            "X-CSRF-Token": token,
        },
    )
    assert answer.status_code == 413 and _is_error_page(answer.text, "image_too_large")


def test_a_policy_refusal_keeps_what_was_typed(web_world: World, face_jpeg: bytes) -> None:
    ivy = signed_in_client(web_world, "ivy")
    token = csrf_in(ivy.get("/searches/new").text)
    answer = ivy.post(
        "/searches/new",
        data={
            "csrf_token": token,
            "case_number": "2026-000777",
            "offense": "armed-robbery",
            "justification": "too short",
            "galleries": ["bookings"],
        },
        files=[("probes", ("probe.jpg", face_jpeg, "image/jpeg"))],
    )
    assert answer.status_code == 403 and _is_error_page(answer.text, "justification_too_short")
    assert 'value="2026-000777"' in answer.text and ">too short</textarea>" in answer.text
    assert 'aria-invalid="true"' in answer.text
    # Refused and audited; the form shown again reads the policy in force (audited too).
    assert _last_kinds(web_world, 2) == ["search.refused", "policy.show"]


def test_pages_load_nothing_from_elsewhere(web_world: World, client_of: Any) -> None:
    ivy = signed_in_client(web_world, "ivy")
    pages = [(ivy, p) for p in ("/", "/searches/new", "/searches", "/inbox", "/signin")]
    aude = client_of("aude")
    entry = re.findall(r'href="(/audit/entries/\d+)"', aude.get("/audit").text)[0]
    pages += [(aude, p) for p in ("/audit", "/audit/verification", entry)]
    pages += [(client_of("gus"), p) for p in ("/galleries", "/galleries/bookings", "/jobs")]
    pages += [(client_of("head"), p) for p in ("/agencies/county/policy", "/agency/people")]
    pages += [(client_of("head"), "/agency/searches")]
    for client, path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, path
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "connect-src 'self'" in policy  # a job's page reads its progress from the API
        linked = re.findall(r'(?:src|href|action)="([^"]*)"', answer.text)
        assert linked and all(u.startswith(("/", "#", "data:")) for u in linked), linked
        assert all(not u.startswith("//") for u in linked)
    css = ivy.get("/static/facetrail.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ivy.get("/static/facetrail.js").headers["content-type"].startswith("text/javascript")
    assert ivy.get("/static/conftest.py").status_code == 404


def test_sign_in_and_search_keep_the_apis_rate_limits(web_world: World, face_jpeg: bytes) -> None:
    app = create_app(ctx=web_world.ctx)
    one_a_minute = parse_many("1/minute")
    app.state.limits = RateLimits(
        strategies.MovingWindowRateLimiter(storage.MemoryStorage()),
        {"login": one_a_minute, "search": one_a_minute},
    )
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)

    def sign_in() -> Any:
        form = client.get("/signin")
        return client.post(
            "/signin",
            data={
                "csrf_token": csrf_in(form.text),
                "username": "gus",
                "password": PASSWORD,
                "code": recovery_code_for(web_world, "gus"),
            },
        )

    assert sign_in().status_code == 303
    again = sign_in()
    assert again.status_code == 429 and _is_error_page(again.text, "rate_limited")
    assert int(again.headers["retry-after"]) > 0
    assert _last_kind(web_world) == "auth.login.refused"

    def search() -> Any:
        return client.post(
            "/searches/new",
            data={"csrf_token": csrf_in(client.get("/").text), "case_number": "2026-000778"},
            files=[("probes", ("probe.jpg", face_jpeg, "image/jpeg"))],
        )

    assert search().status_code == 403  # gus administers galleries: he does not search
    limited = search()
    assert limited.status_code == 429 and _is_error_page(limited.text, "rate_limited")
