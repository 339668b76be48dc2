"""The search pages' newer parts without a browser: the face picker's form and the preview it
calls with the page's cookie and CSRF value, the face picked going with the search, the
probe's face beside each candidate (another agency's answers not found, and so does one whose
probe retention deleted), a network operator searching for a member agency, and changing a
password (a one-time one from a reset too) within the sign-in rate limit. Refusals name the
stable code and are in the log."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient
from limits import parse_many, storage, strategies
from sqlalchemy import func, select

from facetrail.edge.limits import RateLimits
from facetrail.governance.credentials import Role
from facetrail.governance.policy import ApprovalMode
from facetrail.server import create_app
from facetrail.services import accounts as acc
from facetrail.services.authorization import utc_now
from facetrail.services.notifications import inbox
from facetrail.services.rights import retention
from facetrail.services.searching import review
from facetrail.services.signin import enrolment
from facetrail.store.schema import AuditEntryRow, SearchCandidate, SearchRecord
from tests.api.conftest import World
from tests.conftest import LFW, needs_lfw
from tests.org import AGENCY, JUSTIFICATION, PASSWORD
from tests.web.conftest import (
    code_for,
    csrf_in,
    is_error_page,
    last_kinds,
    recovery_code_for,
    search_by,
    signed_in_client,
)

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def _probe(world: World) -> tuple[str, bytes]:
    person = next(iter(world.photos))
    photo = sorted((LFW / person).glob("*.jpg"))[1]
    return photo.name, photo.read_bytes()


def _search_fields(case: str, **changes: Any) -> dict[str, Any]:
    return {
        "case_number": case,
        "offense": "armed-robbery",
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": ["bookings"],
    } | changes


def _post_search(client: TestClient, world: World, fields: dict[str, Any]) -> Any:
    name, data = _probe(world)
    token = csrf_in(client.get("/").text)
    return client.post(
        "/searches/new",
        data={"csrf_token": token, **fields},
        files=[("probes", (name, data, "image/jpeg"))],
    )


def _stored(world: World, search_id: int) -> SearchRecord:
    with world.ctx.sessions() as s:
        record = s.get(SearchRecord, search_id)
        assert record is not None
        s.expunge(record)
        return record


def test_the_form_offers_the_face_picker_which_previews_with_the_pages_session(
    web_world: World, client_of: Clients
) -> None:
    """The picker's script posts the form to the API with the cookie session and the page's
    CSRF value as the header; a refusal is problem+json with the stable code, audited."""
    ian = client_of("ian")
    form = ian.get("/searches/new")
    assert 'data-face-picker="/api/v1/searches/preview" hidden' in form.text
    assert 'name="on_behalf_of"' not in form.text  # not a network operator
    # A photo the investigator chose is shown from their computer: blob: images, nothing else.
    assert "img-src 'self' data: blob:;" in form.headers["content-security-policy"]
    name, data = _probe(web_world)
    upload = [("probes", (name, data, "image/jpeg"))]
    fields = _search_fields("2026-000601")
    forged = ian.post("/api/v1/searches/preview", data=fields, files=upload)
    assert forged.status_code == 401 and forged.json()["code"] == "token_invalid"
    header = {"X-CSRF-Token": csrf_in(form.text)}
    faces = ian.post("/api/v1/searches/preview", data=fields, files=upload, headers=header)
    assert faces.status_code == 200, faces.text
    assert faces.json()[0]["probe"] == name and faces.json()[0]["used"] is True
    assert last_kinds(web_world) == ["search.preview"]
    refused = ian.post(
        "/api/v1/searches/preview",
        data=_search_fields("2026-000601", justification="too short"),
        files=upload,
        headers=header,
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "justification_too_short" and refused.json()["detail"]
    assert last_kinds(web_world) == ["search.preview.refused"]


def test_the_face_picked_goes_with_the_search(web_world: World, client_of: Clients) -> None:
    ian = client_of("ian")
    picked = _post_search(ian, web_world, _search_fields("2026-000602", face="0"))
    assert picked.status_code == 303, picked.text
    search_id = int(picked.headers["location"].rsplit("/", 1)[1])
    assert _stored(web_world, search_id).face == 0
    largest = _post_search(ian, web_world, _search_fields("2026-000603"))  # no script: largest
    assert _stored(web_world, int(largest.headers["location"].rsplit("/", 1)[1])).face is None
    odd = _post_search(ian, web_world, _search_fields("2026-000604", face="-1"))
    assert odd.status_code == 422 and is_error_page(odd.text, "invalid_request")
    assert 'value="2026-000604"' in odd.text  # the form again, as typed


def _entries_after(world: World, seq: int) -> list[AuditEntryRow]:
    """The actions' entries after ``seq`` (their rows' ``row.seal`` entries left out)."""
    with world.ctx.sessions() as s:
        found = s.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.seq > seq, AuditEntryRow.kind != "row.seal")
            .order_by(AuditEntryRow.seq)
        ).all()
        for entry in found:
            s.expunge(entry)
        return list(found)


def _last_seq(world: World) -> int:
    with world.ctx.sessions() as s:
        return int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)


def test_each_candidate_shows_beside_the_probes_face(web_world: World, client_of: Clients) -> None:
    """The faces are in the page: a browser asks for nothing more, and the look is one
    ``search.view`` entry naming what it showed and the session's token (it was a token use
    and a view for the page, the same two for each candidate's face, and a view of the
    probe's face: 103 entries for 50 candidates, seen on 762247b)."""
    search_id = search_by(web_world, "ian", "2026-000605")
    ian = client_of("ian")
    before = _last_seq(web_world)
    shown = ian.get(f"/searches/{search_id}")
    assert shown.status_code == 200, shown.text
    cards = shown.text.count('<li class="card candidate"')
    sources = re.findall(r'<img[^>]* src="([^"]*)"', shown.text)
    faces = [src for src in sources if src.startswith("data:image/jpeg;base64,")]
    assert cards > 0 and len(faces) == 2 * cards == len(sources)  # the probe's and theirs
    for face in faces[:2]:
        jpeg = base64.b64decode(face.split(",", 1)[1])
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and min(image.shape[:2]) > 40
    assert "The probe's face that was searched" in shown.text
    written = _entries_after(web_world, before)
    assert [e.kind for e in written] == ["search.view"]
    details = json.loads(written[0].details)
    assert details.pop("token") and details == {
        "shown": "result page",
        "candidates": cards,
        "faces": cards,
        "probe_face": True,
    }
    # The probe's face on its own, for API clients: a view of its own.
    crop_url = f"/searches/{search_id}/probes/0/crop"
    crop = ian.get(crop_url)
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert "no-store" in crop.headers["cache-control"]
    image = cv2.imdecode(np.frombuffer(crop.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and min(image.shape[:2]) > 40
    assert last_kinds(web_world) == ["search.probe_view"]
    # Another agency's search answers as a missing one, and the refusal is in the log.
    olga = client_of("olga")
    theirs = olga.get(crop_url)
    assert theirs.status_code == 404 and is_error_page(theirs.text, "not_found")
    assert last_kinds(web_world) == ["search.probe_view.refused"]
    missing = ian.get(f"/searches/{search_id}/probes/3/crop")  # a search of one probe
    assert missing.status_code == 404 and is_error_page(missing.text, "not_found")
    assert ian.get(f"/searches/{search_id}/probes/9/crop").status_code == 422


def test_a_probe_retention_deleted_answers_not_found_and_says_why(
    web_world: World, client_of: Clients
) -> None:
    search_id = search_by(web_world, "ian", "2026-000606")
    with web_world.ctx.transaction() as s:
        record = s.get(SearchRecord, search_id)
        assert record is not None
        record.probe_purge_after = utc_now() - timedelta(days=1)
    assert retention.purge_expired_probes(web_world.ctx) == 1
    ian = client_of("ian")
    gone = ian.get(f"/searches/{search_id}/probes/0/crop")
    assert gone.status_code == 404 and is_error_page(gone.text, "not_found")
    assert "probe retention for this search has ended" in gone.text
    assert last_kinds(web_world) == ["search.probe_view.refused"]
    page = ian.get(f"/searches/{search_id}")
    assert page.status_code == 200 and "/probes/0/crop" not in page.text
    assert "The probe image is deleted" in page.text
    assert "data:image/jpeg;base64," in page.text  # the candidates' faces still show


def test_a_network_operator_searches_for_a_member_agency(
    web_world: World, client_of: Clients
) -> None:
    org, ctx = web_world.org, web_world.ctx
    acc.create_network(ctx, org.admin, "metro")
    acc.create_agency(ctx, org.admin, "metro-ops", network="metro")
    acc.create_agency(ctx, org.admin, "harbour", network="metro")
    org.set_policy("harbour", by="root", galleries=("bookings",), approval=ApprovalMode.NEVER)
    org.add("nora", "metro-ops", Role.NETWORK_OPERATOR)
    nora = signed_in_client(web_world, "nora")
    home = nora.get("/")
    assert 'href="/searches/new">Search for a member agency' in home.text
    form = nora.get("/searches/new")
    assert form.status_code == 200
    assert '<option value="harbour" selected>' in form.text
    assert '<option value="metro-ops">' in form.text
    assert '<input type="hidden" name="on_behalf_of" value="harbour">' in form.text
    assert last_kinds(web_world, 2) == ["agency.list", "policy.show"]
    # Another member's policy, chosen in the form above it: the operator's own allows nothing.
    own = nora.get("/searches/new?on_behalf_of=metro-ops")
    assert '<option value="metro-ops" selected>' in own.text
    assert "metro-ops's policy allows no gallery yet: ask its head" in own.text

    ran = _post_search(nora, web_world, _search_fields("2026-000607", on_behalf_of="harbour"))
    assert ran.status_code == 303, ran.text
    shown = nora.get(ran.headers["location"])
    assert "<dt>Agency</dt><dd>harbour</dd>" in shown.text
    assert "<dt>Asked by</dt><dd>nora</dd>" in shown.text
    request = _stored(web_world, int(ran.headers["location"].rsplit("/", 1)[1]))
    assert request.face is None

    outside = _post_search(nora, web_world, _search_fields("2026-000608", on_behalf_of="other"))
    assert outside.status_code == 403 and is_error_page(outside.text, "permission_denied")
    assert "not a member of your network" in outside.text
    # Refused and audited; the form shown again reads the agencies and a policy (audited too).
    assert last_kinds(web_world, 3) == ["search.refused", "agency.list", "policy.show"]
    ivy = client_of("ivy")
    forged = _post_search(ivy, web_world, _search_fields("2026-000609", on_behalf_of=AGENCY))
    assert forged.status_code == 403 and is_error_page(forged.text, "permission_denied")
    assert "only a network operator" in forged.text
    assert last_kinds(web_world, 2) == ["search.refused", "policy.show"]


def _password_form(client: TestClient, query: str = "") -> str:
    return csrf_in(client.get(f"/account/password{query}").text)


def test_a_one_time_password_leads_from_sign_in_to_choosing_ones_own(
    web_world: World, client_of: Clients
) -> None:
    web_world.org.add("pia", AGENCY, Role.INVESTIGATOR)
    one_time = enrolment.reset_password(
        web_world.ctx, web_world.org.people["head"], "pia", "forgot it"
    )
    client = TestClient(web_world.client.app, raise_server_exceptions=False, follow_redirects=False)
    signin = client.get("/signin")
    assert 'href="/account/password"' in signin.text
    answer = client.post(
        "/signin",
        data={
            "csrf_token": csrf_in(signin.text),
            "username": "pia",
            "password": one_time.password,
            "code": code_for(web_world, "pia"),
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/password?username=pia&one_time=1"
    assert "facetrail_session" not in answer.headers.get("set-cookie", "")
    form = client.get(answer.headers["location"])
    assert "a one-time one from a reset" in form.text and 'value="pia"' in form.text
    new = "a new horse battery staple"
    fields = {"username": "pia", "password": one_time.password, "new_password": new}

    def change(code: str, again: str = new) -> Any:
        return client.post(
            "/account/password",
            data={
                "csrf_token": _password_form(client),
                "code": code,
                "new_password_again": again,
                **fields,
            },
        )

    typo = change("000000", again=new + "!")
    assert typo.status_code == 422 and is_error_page(typo.text, "invalid_request")
    assert 'aria-invalid="true"' in typo.text
    wrong = change("000000")
    assert wrong.status_code == 401 and is_error_page(wrong.text, "auth_failed")
    assert last_kinds(web_world) == ["account.password.refused"]
    changed = change(recovery_code_for(web_world, "pia"))
    assert changed.status_code == 303, changed.text
    assert changed.headers["location"] == "/signin?username=pia&password_changed=1"
    assert last_kinds(web_world) == ["account.password"]
    again = client.get(changed.headers["location"])
    assert "Your password is changed" in again.text
    signed = client.post(
        "/signin",
        data={
            "csrf_token": csrf_in(again.text),
            "username": "pia",
            "password": new,
            "code": recovery_code_for(web_world, "pia"),
        },
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    # The header and the home page lead to it once signed in.
    home = client.get("/")
    assert home.text.count('href="/account/password?username=pia"') == 2


def test_a_password_change_is_refused_from_another_site_and_over_the_limit(
    web_world: World,
) -> None:
    app = create_app(ctx=web_world.ctx)
    app.state.limits = RateLimits(
        strategies.MovingWindowRateLimiter(storage.MemoryStorage()),
        {"login": parse_many("1/minute"), "search": parse_many("1/minute")},
    )
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    data = {
        "username": "gus",
        "password": PASSWORD,
        "code": "000000",
        "new_password": "another horse battery",
        "new_password_again": "another horse battery",
    }
    forged = client.post("/account/password", data={"csrf_token": "x", **data})
    assert forged.status_code == 403 and is_error_page(forged.text, "token_invalid")
    first = client.post("/account/password", data={"csrf_token": _password_form(client), **data})
    assert first.status_code == 401 and is_error_page(first.text, "auth_failed")
    limited = client.post("/account/password", data={"csrf_token": _password_form(client), **data})
    assert limited.status_code == 429 and is_error_page(limited.text, "rate_limited")
    assert int(limited.headers["retry-after"]) > 0
    assert last_kinds(web_world) == ["account.password.refused"]
    details = _last_details(web_world)
    assert details["code"] == "rate_limited"


def _last_details(world: World) -> dict[str, Any]:
    with world.ctx.sessions() as s:
        row = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(1)).one()
        body: dict[str, Any] = json.loads(row.details)
        return body


def test_a_second_review_is_asked_of_a_named_colleague_and_waits_in_their_queue(
    web_world: World, client_of: Clients
) -> None:
    """The hand-off: the first reviewer asks a named colleague, who is told in their inbox
    with the search's page and finds it first in their reviews waiting, without anyone
    passing an address (before, nothing listed or announced a review that waited). Only a
    reviewer of the agency who has not reviewed it may be asked; each ask and refusal is
    audited. The queue shows counts, never the first reviewer's call."""
    ctx, org = web_world.ctx, web_world.org
    search_id = search_by(web_world, "ian", "2026-000609")
    with ctx.sessions() as s:
        first = s.scalar(
            select(SearchCandidate.id)
            .where(SearchCandidate.search_id == search_id)
            .order_by(SearchCandidate.rank)
        )
    assert first is not None
    review.review_candidate(
        ctx, org.people["ian"], first, "possible_match", "Same scar above the left eyebrow."
    )
    ian = client_of("ian")
    own = ian.get("/reviews")
    assert own.status_code == 200 and f'href="/searches/{search_id}"' in own.text
    assert last_kinds(web_world) == ["review.queue"]
    page = ian.get(f"/searches/{search_id}")
    assert 'action="/searches/' + str(search_id) + '/second-review"' in page.text
    token = csrf_in(page.text)

    def ask(colleague: str) -> Any:
        return ian.post(
            f"/searches/{search_id}/second-review",
            data={"csrf_token": token, "colleague": colleague},
        )

    refused = {"olga": (404, "not_found"), "ian": (403, "permission_denied")}
    refused |= {"gus": (403, "permission_denied")}  # a gallery admin reviews nothing
    for colleague, (status, code) in refused.items():
        answer = ask(colleague)
        assert answer.status_code == status and is_error_page(answer.text, code), colleague
        assert last_kinds(web_world) == ["review.ask.refused"]
    asked = ask("ivy")
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/searches/{search_id}?asked=ivy#second-review"
    assert last_kinds(web_world) == ["review.ask"]
    told = [m for m in inbox(ctx, org.people["ivy"].user_id) if str(search_id) in m.subject]
    assert len(told) == 1 and f"/searches/{search_id}" in told[0].body
    assert "facetrail " not in told[0].body  # a page, never a command
    ivy = client_of("ivy")
    waiting = ivy.get("/reviews")
    assert waiting.status_code == 200
    row = waiting.text.split(f'href="/searches/{search_id}"', 1)[1].split("</tr>", 1)[0]
    assert "1 second review<" in row
    assert "Possible match" not in waiting.text and "scar" not in waiting.text
    review.review_candidate(
        ctx, org.people["ivy"], first, "not_a_match", "Different ear shape and jaw line."
    )
    again = ask("ivy")
    assert again.status_code == 409 and is_error_page(again.text, "wrong_state")
    assert "Reviews waiting" in ivy.get("/").text  # in the navigation of both roles


def test_a_decision_needs_a_real_note_and_a_confirmation_and_a_denial_reads_plainly(
    web_world: World, client_of: Clients
) -> None:
    """Before: a one-letter note was enough, one click decided, and the denied search's page
    said only that the note was in the asker's inbox."""
    search_id = search_by(web_world, "olga", "OT-2026-0777")
    otto = client_of("otto")
    token = csrf_in(otto.get("/approvals").text)

    short = otto.post(
        f"/approvals/{search_id}", data={"csrf_token": token, "approve": "false", "note": "no"}
    )
    assert short.status_code == 422 and "at least 10 characters" in short.text
    assert f'id="note-{search_id}" name="note"' in short.text and ">no</textarea>" in short.text
    note = "no link between the probe photo and the case"
    asked = otto.post(
        f"/approvals/{search_id}", data={"csrf_token": token, "approve": "false", "note": note}
    )
    assert asked.status_code == 200 and f"Deny search {search_id}?" in asked.text
    assert "cannot be undone" in asked.text and note in asked.text
    with web_world.ctx.sessions() as s:  # nothing is decided before the confirmation
        assert s.get(SearchRecord, search_id).status == "pending"  # type: ignore[union-attr]
        denials = select(func.count()).where(
            AuditEntryRow.kind == "search.deny", AuditEntryRow.subject == f"search:{search_id}"
        )
        assert s.scalar(denials) == 0

    done = otto.post(
        f"/approvals/{search_id}",
        data={"csrf_token": token, "approve": "false", "note": note, "confirmed": "yes"},
    )
    assert done.status_code == 303
    assert last_kinds(web_world) == ["search.deny"]
    told = otto.get(done.headers["location"]).text
    assert "Nothing was searched" in told

    shown = client_of("olga").get(f"/searches/{search_id}").text
    assert "Denied: nothing was searched" in shown and "otto denied this search" in shown
    assert note in shown and "Denied by</dt><dd>otto" in shown


def test_took_counts_the_search_not_the_wait_and_the_outcome_note_is_shown(
    web_world: World, client_of: Clients
) -> None:
    search_id = search_by(web_world, "olga", "OT-2026-0778")
    with web_world.ctx.transaction() as s:  # asked an hour before it was approved
        record = s.get(SearchRecord, search_id)
        assert record is not None
        record.created_at = record.created_at - timedelta(hours=1)
    otto = client_of("otto")
    token = csrf_in(otto.get("/approvals").text)
    note = "the justification names the robbery and the camera"
    otto.post(
        f"/approvals/{search_id}",
        data={"csrf_token": token, "approve": "true", "note": note, "confirmed": "yes"},
    )
    olga = client_of("olga")
    page_ = olga.get(f"/searches/{search_id}").text
    took = re.search(r"<dt>Search took</dt><dd>([\d.]+) s", page_)
    assert took is not None and float(took.group(1)) < 60, "the hour's wait is not counted"
    assert "Approved by</dt><dd>otto" in page_

    with web_world.ctx.transaction() as s:
        candidates = s.scalars(
            select(SearchCandidate.id).where(SearchCandidate.search_id == search_id)
        ).all()
    for candidate_id in candidates:
        review.review_candidate(
            web_world.ctx,
            web_world.org.people["olga"],
            candidate_id,
            "not_a_match",
            "no scar there",
        )
    closed = olga.post(
        f"/searches/{search_id}/outcome",
        data={
            "csrf_token": csrf_in(page_),
            "outcome": "no_lead",
            "note": "none of the candidates has the scar",
        },
    )
    assert closed.status_code == 303, closed.text
    after = olga.get(closed.headers["location"]).text
    assert "none of the candidates has the scar" in after and "by olga" in after


def test_the_search_form_asks_how_many_candidates_and_the_result_ranks_them_together(
    web_world: World, client_of: Clients
) -> None:
    """Before: the form had no number of candidates (always 50 per gallery) and the result
    listed each gallery's candidates apart, likely and unlikely alike."""
    ivy = client_of("ivy")
    form = ivy.get("/searches/new").text
    assert 'id="top" name="top" value="20"' in form
    person = next(iter(web_world.photos))
    photo = sorted((LFW / person).glob("*.jpg"))[1].read_bytes()
    fields = {
        "csrf_token": csrf_in(form),
        "case_number": "2026-000991",
        "offense": "armed-robbery",
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": ["bookings"],
    }
    probe = [("probes", ("probe.jpg", photo, "image/jpeg"))]
    bad = ivy.post("/searches/new", data=fields | {"top": "0"}, files=probe)
    assert bad.status_code == 422 and "top is at least 1" in bad.text
    assert 'value="0"' in bad.text  # kept as typed
    done = ivy.post("/searches/new", data=fields | {"top": "3"}, files=probe)
    assert done.status_code == 303
    shown = ivy.get(done.headers["location"]).text
    assert shown.count('<li class="card candidate"') == 3
    # One list, most likely first: the person's own face is likely, the rest folded.
    likely = shown.split('id="likely"')[1].split('id="unlikely"')[0]
    assert likely.count('<li class="card candidate"') >= 1 and "1. Candidate" in likely
    assert "<summary>Unlikely: " in shown
    places = [int(p) for p in re.findall(r"<h3>(\d+)\. Candidate", shown)]
    assert places == [1, 2, 3]
    # The probe's face is fit to search, and the page says so (a poor one says why).
    assert '<th scope="col">Fit to search</th>' in shown and "<td>Yes</td>" in shown
    assert "is poor to search" not in shown
