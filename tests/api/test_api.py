"""The REST API as programs and browsers meet it: problem+json errors with the CLI's codes,
bearer tokens and cookie sessions with CSRF, a governed search by multipart upload through to
review, outcome and disclosure, upload limits before a body is read, pagination, metrics."""

from __future__ import annotations

from sqlalchemy import func, select

from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import CASE, JUSTIFICATION, OFFENSE, PASSWORD, next_code

pytestmark = needs_lfw
PROBLEM = "application/problem+json"


def _kinds(world: World) -> list[str]:
    with world.ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow.kind)
                .where(AuditEntryRow.kind != "row.seal")
                .order_by(AuditEntryRow.seq)
            )
        )


def _searches(world: World) -> int:
    with world.ctx.sessions() as s:
        return int(s.scalar(select(func.count(SearchRecord.id))) or 0)


def _search_form(world: World, name: str, **changes: str) -> dict[str, object]:
    person = next(iter(world.photos))
    data = {
        "case_number": CASE,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": ["bookings"],
    } | changes
    files = [("probes", ("probe.jpg", world.photos[person].read_bytes(), "image/jpeg"))]
    return {"data": data, "files": files, "headers": world.as_(name)}


def test_health_and_ready_need_no_sign_in_and_metrics_a_system_admin(world: World) -> None:
    assert world.client.get("/health").json() == {"status": "ok"}
    ready = world.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert world.client.get("/metrics").status_code == 401
    assert world.client.get("/metrics", headers=world.as_("head")).status_code == 403
    metrics = world.client.get("/metrics", headers=world.as_("root"))
    assert metrics.status_code == 200
    assert 'facetrail_http_requests_total{method="GET",route="/ready",status="200"}' in (
        metrics.text
    )


def test_no_credentials_is_a_problem_with_the_cli_code(world: World) -> None:
    answer = world.client.get("/api/v1/me")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["www-authenticate"].startswith("Bearer")
    body = answer.json()
    assert body["code"] == "not_logged_in" and body["status"] == 401
    assert body["type"] == "urn:facetrail:problem:not_logged_in"


def test_a_wrong_token_is_refused_and_audited(world: World) -> None:
    answer = world.client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and answer.json()["code"] == "token_invalid"
    assert _kinds(world)[-1] == "auth.token.refused"


def test_sign_in_with_a_wrong_code_is_refused_and_audited(world: World) -> None:
    answer = world.client.post(
        "/api/v1/session",
        json={"username": "ivy", "password": PASSWORD, "code": "000000", "session": "bearer"},
    )
    assert answer.status_code == 401 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["code"] == "auth_failed"
    assert _kinds(world)[-1] == "auth.login.failed"


def test_bearer_session_reads_me_and_signs_out(world: World) -> None:
    headers = world.as_("ivy")
    me = world.client.get("/api/v1/me", headers=headers).json()
    assert me["username"] == "ivy" and me["agency"] == "county"
    assert me["roles"] == ["investigator"]
    assert world.client.delete("/api/v1/session", headers=headers).status_code == 204
    again = world.client.get("/api/v1/me", headers=headers)
    assert again.status_code == 401 and again.json()["code"] == "token_invalid"


def test_cookie_session_needs_csrf_on_changes(world: World) -> None:
    secret = world.org.enrolments["head"].totp_secret
    assert secret is not None
    code, _ = next_code(secret)
    answer = world.client.post(
        "/api/v1/session", json={"username": "head", "password": PASSWORD, "code": code}
    )
    assert answer.status_code == 201 and "token" not in answer.json()
    cookie = answer.headers.get_list("set-cookie")
    session = next(c for c in cookie if c.startswith("facetrail_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    csrf = answer.json()["csrf_token"]
    # Reading needs only the cookie.
    assert world.client.get("/api/v1/me").json()["username"] == "head"
    # A change without the CSRF header (what another site could forge) is refused.
    forged = world.client.post("/api/v1/searches/1/decision", json={"approve": True})
    assert forged.status_code == 401 and forged.json()["subject"] == "csrf"
    signed = world.client.post(
        "/api/v1/searches/999/decision",
        json={"approve": True, "note": "ok, go ahead with it"},
        headers={"X-CSRF-Token": csrf},
    )
    assert signed.status_code == 404  # past the CSRF check: the search does not exist
    assert world.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert world.client.get("/api/v1/me").status_code == 401


def test_search_upload_to_review_outcome_and_disclosure(world: World) -> None:
    answer = world.client.post("/api/v1/searches", **_search_form(world, "ivy"))  # type: ignore[arg-type]
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert result["status"] == "done" and result["candidates"]
    assert "never an identification" in result["notice"]
    top = result["candidates"][0]
    assert top["score"] > 0.5 and top["source"]["legal_basis"] == "State Code 12-345"
    assert top["crop_jpeg"] is None  # images are routes of their own
    search_id = result["search_id"]

    ivy = world.as_("ivy")
    shown = world.client.get(f"/api/v1/searches/{search_id}", headers=ivy).json()
    assert shown["candidates"] == result["candidates"]
    crop = world.client.get(f"/api/v1/candidates/{top['id']}/crop", headers=ivy)
    assert crop.status_code == 200 and crop.content[:3] == b"\xff\xd8\xff"
    review = world.client.post(
        f"/api/v1/candidates/{top['id']}/reviews",
        json={"decision": "possible_match", "note": "same scar and ear shape"},
        headers=ivy,
    )
    assert review.status_code == 201, review.text
    assert review.json()["second_review_pending"] is True
    second = world.client.post(
        f"/api/v1/candidates/{top['id']}/reviews",
        json={"decision": "possible_match", "note": "agree: ear and hairline"},
        headers=world.as_("ian"),
    )
    assert second.status_code == 201, second.text
    outcome = world.client.post(
        f"/api/v1/searches/{search_id}/outcome",
        json={"outcome": "lead", "note": "corroborated by the bank's records"},
        headers=ivy,
    )
    assert outcome.status_code == 200 and outcome.json()["confirmed"] == [top["id"]]
    disclosure = world.client.get(f"/api/v1/cases/{CASE}/disclosure", headers=ivy).json()
    assert [s["search_id"] for s in disclosure["searches"]] == [search_id]
    kinds = _kinds(world)
    for kind in (
        "search.run",
        "search.view",
        "search.crop_view",
        "review.record",
        "search.outcome",
    ):
        assert kind in kinds, kind


def test_another_agency_sees_nothing_and_is_audited(world: World) -> None:
    done = world.client.post("/api/v1/searches", **_search_form(world, "ivy")).json()  # type: ignore[arg-type]
    olga = world.as_("olga")
    for path in (
        f"/api/v1/searches/{done['search_id']}",
        f"/api/v1/candidates/{done['candidates'][0]['id']}/crop",
        f"/api/v1/candidates/{done['candidates'][0]['id']}/source",
        f"/api/v1/searches/{done['search_id']}/export",
    ):
        answer = world.client.get(path, headers=olga)
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "not_found"
        assert _kinds(world)[-1].endswith(".refused"), path
    review = world.client.post(
        f"/api/v1/candidates/{done['candidates'][0]['id']}/reviews",
        json={"decision": "not_a_match", "note": "should never be allowed"},
        headers=olga,
    )
    assert review.status_code in (403, 404) and _kinds(world)[-1].endswith(".refused")


def test_policy_refuses_before_the_probe_is_read(world: World) -> None:
    before = _searches(world)
    form = _search_form(world, "ivy", case_number="no case")
    form["files"] = [("probes", ("x.jpg", b"not an image at all", "image/jpeg"))]
    answer = world.client.post("/api/v1/searches", **form)  # type: ignore[arg-type]
    assert answer.status_code == 403 and answer.json()["code"] == "case_number_invalid"
    assert _kinds(world)[-1] == "search.refused" and _searches(world) == before


def test_pending_search_is_approved_by_a_supervisor(world: World) -> None:
    asked = world.client.post("/api/v1/searches", **_search_form(world, "olga"))  # type: ignore[arg-type]
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    search_id = asked.json()["search_id"]
    otto = world.as_("otto")
    queue = world.client.get("/api/v1/searches/pending", headers=otto).json()
    assert [s["search_id"] for s in queue["items"]] == [search_id]
    # Another agency's supervisor cannot decide it: it does not exist for them.
    sam = world.client.post(
        f"/api/v1/searches/{search_id}/decision",
        json={"approve": True, "note": "looks fine"},
        headers=world.as_("sam"),
    )
    assert sam.status_code == 404
    decided = world.client.post(
        f"/api/v1/searches/{search_id}/decision",
        json={"approve": True, "note": "justified by the case"},
        headers=otto,
    )
    assert decided.status_code == 200 and decided.json()["decision"] == "approved"
    ran = world.client.get(f"/api/v1/searches/{search_id}", headers=world.as_("olga")).json()
    assert ran["status"] == "done" and ran["candidates"]


def test_upload_limits_apply_before_the_body_is_read(world: World) -> None:
    headers = world.as_("ivy") | {"Content-Length": str(10**10), "Content-Type": "image/jpeg"}
    huge = world.client.post("/api/v1/searches", content=b"x", headers=headers)
    assert huge.status_code == 413 and huge.json()["code"] == "image_too_large"
    form = _search_form(world, "ivy")
    form["files"] = [("probes", ("probe.txt", b"hello", "text/plain"))]
    wrong = world.client.post("/api/v1/searches", **form)  # type: ignore[arg-type]
    assert wrong.status_code == 415 and wrong.json()["subject"] == "probe.txt"


def test_invalid_input_and_internal_errors_are_problems(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bad = world.client.post("/api/v1/session", json={"username": "ivy"})
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    assert bad.json()["code"] == "invalid_request" and "password" in bad.json()["detail"]

    from facetrail.services.galleries import admin as galleries

    def broken(*_a: object) -> object:
        raise KeyError("secret internals")

    monkeypatch.setattr(galleries, "list_galleries", broken)
    answer = world.client.get("/api/v1/galleries", headers=world.as_("ivy"))
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert "secret internals" not in answer.text and "Traceback" not in answer.text


def test_lists_page_with_a_cursor(world: World) -> None:
    head = world.as_("head")
    everything = world.client.get("/api/v1/inbox?limit=500", headers=head).json()
    assert len(everything["items"]) >= 3 and everything["next_cursor"] is None
    seen, cursor = [], None
    while True:
        url = "/api/v1/inbox?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = world.client.get(url, headers=head).json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything["items"]
    bad = world.client.get("/api/v1/inbox?cursor=%%%", headers=head)
    assert bad.status_code == 422 and bad.json()["subject"] == "cursor"


def test_audit_status_is_for_auditors_and_proofs_verify(world: World) -> None:
    refused = world.client.get("/api/v1/audit/verify", headers=world.as_("ivy"))
    assert refused.status_code == 403 and _kinds(world)[-1] == "audit.verify.refused"
    report = world.client.get("/api/v1/audit/verify", headers=world.as_("head")).json()
    assert report["ok"] is True and report["entries"] > 10
    proof = world.client.get("/api/v1/audit/entries/3/proof", headers=world.as_("ivy"))
    assert proof.status_code == 200 and proof.json()["entry"] == 3


def test_audit_entries_with_filters_stay_in_the_agency(world: World) -> None:
    world.client.post("/api/v1/searches", **_search_form(world, "ivy"))  # type: ignore[arg-type]
    head = world.as_("head")
    found = world.client.get("/api/v1/audit/entries?kind=search.&limit=500", headers=head).json()
    kinds = {e["kind"] for e in found["items"]}
    assert {"search.request", "search.run"} <= kinds and all(k.startswith("search.") for k in kinds)
    assert all(e["actor"] != "olga" for e in found["items"])
    # Paging with the cursor gives the same entries.
    first = world.client.get("/api/v1/audit/entries?limit=2", headers=head).json()
    after = first["next_after"]
    second = world.client.get(f"/api/v1/audit/entries?limit=2&after={after}", headers=head)
    assert second.json()["items"][0]["seq"] > after
    # Another agency's head sees none of the county's people's entries.
    otto = world.client.get("/api/v1/audit/entries?actor=ivy", headers=world.as_("otto"))
    assert otto.status_code == 200 and otto.json()["items"] == []
    refused = world.client.get("/api/v1/audit/entries", headers=world.as_("ivy"))
    assert refused.status_code == 403 and _kinds(world)[-1] == "audit.read.refused"


def test_directory_lists_match_the_cli_names(world: World) -> None:
    done = world.client.post("/api/v1/searches", **_search_form(world, "ivy")).json()  # type: ignore[arg-type]
    people = world.client.get("/api/v1/accounts", headers=world.as_("head")).json()["items"]
    assert {"ivy", "ian", "head"} <= {p["username"] for p in people}
    assert all(p["agency"] == "county" for p in people)
    mine = world.client.get("/api/v1/searches?mine=true", headers=world.as_("ivy")).json()
    assert [s["search_id"] for s in mine["items"]] == [done["search_id"]]
    cases = world.client.get("/api/v1/cases", headers=world.as_("ivy")).json()["items"]
    assert [c["case_number"] for c in cases] == [CASE]
    assert world.client.get("/api/v1/accounts/ivy", headers=world.as_("olga")).status_code == 404


def test_preview_lists_the_probe_faces_after_the_policy_check(world: World) -> None:
    before = _searches(world)
    form = _search_form(world, "ivy")
    answer = world.client.post("/api/v1/searches/preview", **form)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    faces = answer.json()
    assert faces and faces[0]["used"] is True and faces[0]["detector_score"] > 0.5
    assert _kinds(world)[-1] == "search.preview" and _searches(world) == before
    refused = world.client.post(
        "/api/v1/searches/preview", **_search_form(world, "ivy", offense="jaywalking")
    )  # type: ignore[arg-type]
    assert refused.status_code == 403 and _kinds(world)[-1] == "search.preview.refused"


def test_a_search_records_its_token_use_with_the_search(world: World) -> None:
    """The search route records the token's use in the search's own transaction: the use
    comes right before the request it made; a search refused, or an upload turned away before
    the search, records the use too (and once)."""
    done = world.client.post("/api/v1/searches", **_search_form(world, "ivy"))  # type: ignore[arg-type]
    assert done.status_code == 201
    assert _kinds(world)[-3:] == ["auth.token.use", "search.request", "search.run"]
    refused = world.client.post(
        "/api/v1/searches",
        **_search_form(world, "ivy", case_number="no case"),  # type: ignore[arg-type]
    )
    assert refused.status_code == 403
    assert _kinds(world)[-2:] == ["auth.token.use", "search.refused"]
    form = _search_form(world, "ivy")
    form["files"] = [("probes", ("x.txt", b"plain text", "text/plain"))]
    turned_away = world.client.post("/api/v1/searches", **form)  # type: ignore[arg-type]
    assert turned_away.status_code == 415
    assert _kinds(world)[-1] == "auth.token.use"
    missing = _search_form(world, "ivy")
    del missing["files"]
    assert world.client.post("/api/v1/searches", **missing).status_code == 422  # type: ignore[arg-type]
    assert _kinds(world)[-2:] == ["auth.token.use", "auth.token.use"]


def test_a_token_revoked_after_its_precheck_is_refused_under_the_lock(world: World) -> None:
    """The search route trusts a worker's recent read of a token for a few seconds, as a
    pre-check only: the search's own locked transaction checks the token again, so a token
    revoked in between is refused there (audited), and nothing of the search is stored."""
    form = _search_form(world, "ivy")
    assert world.client.post("/api/v1/searches", **form).status_code == 201  # type: ignore[arg-type]
    before = _searches(world)
    revoked = world.client.post(
        "/api/v1/tokens/revoke", json={"token": world.token("ivy")}, headers=world.as_("ivy")
    )
    assert revoked.status_code in (200, 204), revoked.text
    again = world.client.post("/api/v1/searches", **form)  # type: ignore[arg-type]
    assert again.status_code == 401 and again.json()["code"] == "token_invalid"
    assert _searches(world) == before
    assert _kinds(world)[-2:] == ["auth.token.refused", "search.refused"]
    # The worker forgot its read of the token: its next use is refused by the pre-check.
    third = world.client.post("/api/v1/searches", **form)  # type: ignore[arg-type]
    assert third.status_code == 401 and _searches(world) == before
    assert _kinds(world)[-3:] == ["auth.token.refused", "search.refused", "auth.token.refused"]
