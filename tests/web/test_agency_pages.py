"""An agency overseen, without a browser: its people with status and roles, all of its
searches with filters, a case's disclosure as a JSON download, and a supervisor's second,
blind review on the same form as the first; another agency's people, searches and cases
never appear, and people without the role are refused with the stable code (audited)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import csrf_in, is_error_page, last_kinds, search_by

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def test_the_head_sees_the_agencys_people_with_status_and_roles(
    web_world: World, client_of: Clients
) -> None:
    answer = client_of("head").get("/agency/people")
    assert answer.status_code == 200 and "People of county" in answer.text
    names = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>county</td>", answer.text)
    assert {"head", "sam", "ivy", "ian", "gus", "aude"} <= set(names)
    assert not {"olga", "otto", "oona", "root"} & set(names)
    assert "gallery admin" in answer.text and "Enrolled" in answer.text
    assert last_kinds(web_world) == ["account.list"]


def test_an_investigator_may_not_list_the_agencys_people(
    web_world: World, client_of: Clients
) -> None:
    answer = client_of("ivy").get("/agency/people")
    assert answer.status_code == 403 and is_error_page(answer.text, "permission_denied")
    assert last_kinds(web_world) == ["account.list.refused"]


def test_the_agencys_searches_never_show_another_agencys(
    web_world: World, client_of: Clients
) -> None:
    ours = search_by(web_world, "ivy", "2026-000501")
    theirs = search_by(web_world, "olga", "OT-2026-0501")
    head = client_of("head")
    answer = head.get("/agency/searches")
    assert answer.status_code == 200
    assert f'href="/searches/{ours}"' in answer.text and "2026-000501" in answer.text
    assert f'href="/searches/{theirs}"' not in answer.text and "OT-2026-0501" not in answer.text
    assert last_kinds(web_world) == ["search.list"]

    by_case = head.get("/agency/searches", params={"case": "2026-000501", "status": "done"})
    assert re.findall(r'href="/searches/(\d+)"', by_case.text) == [str(ours)]
    assert 'value="2026-000501"' in by_case.text and '<option value="done" selected>' in (
        by_case.text
    )
    bad = head.get("/agency/searches", params={"since": "yesterday"})
    assert bad.status_code == 422 and is_error_page(bad.text, "invalid_request")
    assert last_kinds(web_world) == ["search.list.refused"]

    # The other agency's head lists theirs, not ours.
    otto = client_of("otto").get("/agency/searches").text
    assert f'href="/searches/{theirs}"' in otto and "2026-000501" not in otto


def test_a_gallery_admin_may_not_list_the_agencys_searches(
    web_world: World, client_of: Clients
) -> None:
    answer = client_of("gus").get("/agency/searches")
    assert answer.status_code == 403 and is_error_page(answer.text, "permission_denied")
    assert last_kinds(web_world) == ["search.list.refused"]


def test_a_case_disclosure_downloads_as_json(web_world: World, client_of: Clients) -> None:
    search_id = search_by(web_world, "ivy", "2026-000502")
    sam = client_of("sam")
    page = sam.get(f"/searches/{search_id}").text
    link = "/cases/disclosure?case=2026-000502"
    assert f'href="{link}" download' in page
    answer = sam.get(link)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="disclosure-2026-000502.json"'
    )
    body = json.loads(answer.text)
    assert body["case_number"] == "2026-000502" and body["agency"] == "county"
    assert [s["search_id"] for s in body["searches"]] == [search_id]
    assert last_kinds(web_world) == ["case.disclose"]

    refused = client_of("gus").get(link)
    assert refused.status_code == 403 and is_error_page(refused.text, "permission_denied")
    assert last_kinds(web_world) == ["case.disclose.refused"]
    # Another agency's head is told nothing of the case.
    elsewhere = client_of("otto").get(link)
    assert elsewhere.status_code == 404 and is_error_page(elsewhere.text, "not_found")
    assert elsewhere.headers["content-type"].startswith("text/html")
    assert "Bank robbery" not in elsewhere.text and "ivy" not in elsewhere.text


def _card(page: str, candidate: int) -> str:
    """A candidate's card as the page shows it."""
    after = page.split(f'id="candidate-{candidate}"', 1)[1]
    return re.split(r'<li class="card"|</ol>', after, maxsplit=1)[0]


def test_a_supervisor_reviews_second_without_seeing_the_first_call(
    web_world: World, client_of: Clients
) -> None:
    search_id = search_by(web_world, "ivy", "2026-000503")
    ivy = client_of("ivy")
    page = ivy.get(f"/searches/{search_id}").text
    candidate = int(re.findall(r'action="/candidates/(\d+)/review"', page)[0])
    first = ivy.post(
        f"/candidates/{candidate}/review",
        data={
            "csrf_token": csrf_in(page),
            "search_id": str(search_id),
            "decision": "possible_match",
            "note": "same scar above the left brow",
        },
    )
    assert first.status_code == 303

    sam = client_of("sam")
    blind = sam.get(f"/searches/{search_id}").text
    card = _card(blind, candidate)
    assert f'action="/candidates/{candidate}/review"' in card  # the same form
    assert "ivy" not in card and "same scar" not in card and "Possible match</strong>" not in card
    second = sam.post(
        f"/candidates/{candidate}/review",
        data={
            "csrf_token": csrf_in(blind),
            "search_id": str(search_id),
            "decision": "not_a_match",
            "note": "the ears differ, independently compared",
        },
    )
    assert second.status_code == 303
    seen = sam.get(f"/searches/{search_id}").text
    card = _card(seen, candidate)
    assert "ivy (review 1): <strong>Possible match</strong>" in seen
    assert "sam (review 2): <strong>Not a match</strong>" in seen
    assert "Fully reviewed." in card and f'action="/candidates/{candidate}/review"' not in card
