"""An agency overseen, without a browser: its people with status and roles, all of its
searches with filters, a case's disclosure as a JSON download, and a supervisor's second,
blind review on the same form as the first; another agency's people, searches and cases
never appear, and people without the role are refused with the stable code (audited)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from facetrail.services import accounts as acc
from facetrail.services.accounts.agency_domains import register_domain, remove_domain
from facetrail.services.waiting import work_waiting
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import AGENCY, PASSWORD
from tests.web.conftest import csrf_in, is_error_page, last_kinds, last_seq, search_by

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def test_the_head_sees_the_agencys_people_with_status_and_roles(
    web_world: World, client_of: Clients
) -> None:
    answer = client_of("head").get("/agency/people")
    assert answer.status_code == 200 and "People of county" in answer.text
    names = re.findall(
        r'<tr>\s*<td><a href="[^"]+">([^<]+)</a></td>\s*<td>county</td>', answer.text
    )
    assert {"head", "sam", "ivy", "ian", "gus", "aude"} <= set(names)
    assert not {"olga", "otto", "oona", "root"} & set(names)
    assert "gallery admin" in answer.text and "Enrolled" in answer.text
    assert last_kinds(web_world) == ["account.list"]


def _nav_count(html: str, href: str) -> int:
    """The count the navigation shows beside the link to ``href`` (0: none shown)."""
    nav = html.split('<nav aria-label="Main">')[1].split("</nav>")[0]
    link = re.search(rf'<a href="{re.escape(href)}"[^>]*>(.*?)</a>', nav, re.S)
    assert link is not None, f"no link to {href} in the navigation"
    count = re.search(r'<span class="count">(\d+)<span class="visually-hidden">', link.group(1))
    return int(count.group(1)) if count else 0


def test_an_account_request_waits_with_a_count_and_is_approved_on_the_people_page(
    web_world: World, client_of: Clients
) -> None:
    """Before, a request reached the head and the named supervisor as an inbox line that said
    to run ``facetrail account approve``; nothing in the web app listed or approved it."""
    ctx, org = web_world.ctx, web_world.org
    # A request comes from a registered domain of the agency; removed again at once, since
    # the other tests add accounts on any domain.
    register_domain(ctx, org.people["head"], AGENCY, "waiting.example")
    account = acc.NewAccount("wren", "wren@waiting.example", PASSWORD, AGENCY, supervisor="sam")
    try:
        acc.request_account(ctx, account)
    finally:
        remove_domain(ctx, org.people["head"], AGENCY, "waiting.example")

    sam = client_of("sam")
    home = sam.get("/")
    waiting = work_waiting(ctx, org.people["sam"]).accounts
    assert waiting >= 1 and _nav_count(home.text, "/agency/people") == waiting
    assert '<a href="/agency/people">People</a>: <strong>' in home.text  # "Waiting for you"
    inbox = sam.get("/inbox").text
    assert '<a href="/agency/people#requests">/agency/people#requests</a>' in inbox
    assert "facetrail account approve" not in inbox

    people = sam.get("/agency/people")
    requests = people.text.split('id="requests"')[1].split("<h2>Accounts</h2>")[0]
    assert "wren" in requests and "wren@waiting.example" in requests and "no one" in requests
    approved = sam.post("/agency/people/wren/approve", data={"csrf_token": csrf_in(people.text)})
    assert approved.status_code == 303
    after = sam.get(approved.headers["location"])
    assert "waits for the agency's head or another supervisor" in after.text
    assert _nav_count(after.text, "/agency/people") == waiting - 1
    assert last_kinds(web_world) == ["account.list"]
    again = sam.post("/agency/people/wren/approve", data={"csrf_token": csrf_in(after.text)})
    assert again.status_code == 409 and "approved it already" in again.text
    assert last_kinds(web_world, 2) == ["account.approve.refused", "account.list"]

    head = client_of("head")
    page = head.get("/agency/people").text
    assert "Approved so far by</dt><dd>sam" in page
    done = head.post("/agency/people/wren/approve", data={"csrf_token": csrf_in(page)})
    assert done.status_code == 303
    assert "wren's account is active" in head.get(done.headers["location"]).text


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


def test_a_case_page_shows_every_search_and_disclosure_and_downloads_json_and_pdf(
    web_world: World, client_of: Clients
) -> None:
    """Before: a case was only a JSON download; nothing showed a case's searches together."""
    first = search_by(web_world, "ivy", "2026-000502")
    second = search_by(web_world, "ian", "2026-000502")
    sam = client_of("sam")
    page = sam.get(f"/searches/{first}").text
    assert 'href="/cases?case=2026-000502"' in page
    assert 'role="search"' in page  # the header finds a case by number from every page
    shown = sam.get("/cases", params={"case": "2026-000502"})
    assert shown.status_code == 200 and "<h1>Case 2026-000502</h1>" in shown.text
    for search_id, who in ((first, "ivy"), (second, "ian")):
        assert f'<a href="/searches/{search_id}">Search {search_id}</a>' in shown.text
        assert f"<dt>Asked by</dt><dd>{who}</dd>" in shown.text
    assert last_kinds(web_world) == ["case.disclose"]  # looking at a case discloses it
    viewed_as = last_seq(web_world)
    assert f"Entry {viewed_as}: sam (you, now)" in shown.text
    again = sam.get("/cases", params={"case": "2026-000502"}).text
    assert f"Entry {viewed_as}: sam," in again  # the earlier look is listed among them
    listed = sam.get("/cases").text
    assert 'href="/cases?case=2026-000502"' in listed and last_kinds(web_world) == ["case.list"]

    printable = sam.get("/cases/disclosure.pdf", params={"case": "2026-000502"})
    assert printable.status_code == 200 and printable.content.startswith(b"%PDF-")
    assert printable.headers["content-type"] == "application/pdf"
    assert printable.headers["content-disposition"] == (
        'attachment; filename="disclosure-2026-000502.pdf"'
    )
    assert last_kinds(web_world) == ["case.disclose"]

    link = "/cases/disclosure?case=2026-000502"
    assert f'href="{link}" download' in shown.text
    answer = sam.get(link)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="disclosure-2026-000502.json"'
    )
    body = json.loads(answer.text)
    assert body["case_number"] == "2026-000502" and body["agency"] == "county"
    assert [s["search_id"] for s in body["searches"]] == [first, second]
    assert last_kinds(web_world) == ["case.disclose"]
    assert len(body["disclosures"]) == 3  # the page twice and the PDF before it

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


def test_the_head_adds_a_person_and_manages_their_account_in_the_browser(
    web_world: World, client_of: Clients
) -> None:
    """Before: /agency/people was read-only; adding, suspending, reinstating, roles and
    credential resets were the command line's alone."""
    head = client_of("head")
    people = head.get("/agency/people").text
    assert 'href="/agency/people/new"' in people and 'href="/agency/people/ivy"' in people
    form = head.get("/agency/people/new").text
    token = csrf_in(form)
    assert 'value="system_admin"' not in form  # a head grants agency roles only
    fields = {"csrf_token": token, "username": "wes", "email": "wes@county.example"}
    empty = head.post("/agency/people/new", data=fields)
    assert empty.status_code == 422 and "give at least one role" in empty.text
    assert 'value="wes"' in empty.text  # kept as typed
    added = head.post("/agency/people/new", data=fields | {"roles": ["investigator"]})
    assert added.status_code == 200 and added.headers["cache-control"] == "no-store"
    assert "Added wes" in added.text and last_kinds(web_world)[-1] == "account.create"
    one_time = re.search(r'<p class="one-time"><code>([^<]+)</code>', added.text)
    assert one_time is not None and len(one_time.group(1)) >= 16

    def act(step: str, **more: object) -> Any:
        return head.post("/agency/people/wes", data={"csrf_token": token, "step": step, **more})

    roles = act("roles", roles=["investigator", "auditor"])
    assert roles.status_code == 303 and last_kinds(web_world) == ["account.roles"]
    shown = head.get(roles.headers["location"]).text
    assert "Their roles are changed" in shown and "auditor, investigator" in shown
    assert act("suspend", reason="on leave until March").status_code == 303
    assert '<span class="status">suspended</span>' in head.get("/agency/people/wes").text
    assert act("reinstate", reason="back from leave").status_code == 303
    reset = act("password", reason="forgot it, asked in person")
    assert reset.status_code == 200 and "Password of wes reset" in reset.text
    assert last_kinds(web_world) == ["account.password.reset"]
    unchecked = act("second_factor", reason="lost the phone")
    assert unchecked.status_code == 422 and "confirm that you checked" in unchecked.text
    checked = act("second_factor", reason="lost the phone", checked="yes")
    assert checked.status_code == 303 and last_kinds(web_world) == ["account.mfa.reset"]
    # An auditor reads the account but is offered no change, and is refused one.
    aude = client_of("aude")
    seen = aude.get("/agency/people/wes").text
    assert "Suspend wes" not in seen and "Save the roles" not in seen
    refused = aude.post(
        "/agency/people/wes",
        data={"csrf_token": csrf_in(seen), "step": "suspend", "reason": "no"},
    )
    assert refused.status_code == 403 and "<code>permission_denied</code>" in refused.text
    assert last_kinds(web_world, 2) == ["account.suspend.refused", "account.view"]


def test_a_system_admin_creates_a_network_and_an_agency_in_the_browser(
    web_world: World, client_of: Clients
) -> None:
    """Before: the home page said 'not in the web app yet' and /agencies answered JSON."""
    root = client_of("root")
    listed = root.get("/agencies")
    assert listed.status_code == 200 and "text/html" in listed.headers["content-type"]
    assert "<td>county</td>" in listed.text and "<td>other</td>" in listed.text
    token = csrf_in(listed.text)
    made = root.post("/agencies", data={"csrf_token": token, "what": "network", "name": "coast"})
    assert made.status_code == 303 and last_kinds(web_world) == ["network.create"]
    agency = {"csrf_token": token, "what": "agency", "name": "lighthouse", "network": "coast"}
    made = root.post("/agencies", data=agency | {"trial_days": "14"})
    assert made.status_code == 303 and last_kinds(web_world)[-1] == "agency.create"
    shown = root.get(made.headers["location"]).text
    assert (
        "The agency lighthouse is created" in shown
        and "<strong>coast</strong>: lighthouse" in shown
    )
    again = root.post("/agencies", data=agency | {"trial_days": "14"})
    assert again.status_code in (409, 422) and 'value="lighthouse"' in again.text

    head = client_of("head")
    theirs = head.get("/agencies").text
    assert "<td>county</td>" in theirs and "lighthouse" not in theirs
    assert "Create an agency" not in theirs
    refused = head.post(
        "/agencies", data={"csrf_token": csrf_in(theirs), "what": "network", "name": "x"}
    )
    assert refused.status_code == 403 and last_kinds(web_world, 3)[0] == "network.create.refused"


def test_an_agencys_e_mail_domains_are_registered_and_removed_in_the_browser(
    web_world: World, client_of: Clients
) -> None:
    root = client_of("root")
    page = root.get("/agencies/other/domains")
    assert page.status_code == 200 and "No domain is registered." in page.text
    token = csrf_in(page.text)
    added = root.post(
        "/agencies/other/domains",
        data={"csrf_token": token, "step": "add", "domain": "other.example"},
    )
    assert added.status_code == 303
    shown = root.get(added.headers["location"]).text
    assert "other.example is registered" in shown and "Remove other.example" in shown
    assert "agency.domain.add" in last_kinds(web_world, 3)
    bad = root.post(
        "/agencies/other/domains",
        data={"csrf_token": token, "step": "add", "domain": "not a domain"},
    )
    assert bad.status_code == 422 and 'value="not a domain"' in bad.text
    gone = root.post(
        "/agencies/other/domains",
        data={"csrf_token": token, "step": "remove", "domain": "other.example"},
    )
    assert "other.example is removed" in root.get(gone.headers["location"]).text
    # Another agency's head: not found, and recorded.
    head = client_of("head")
    refused = head.post(
        "/agencies/other/domains",
        data={
            "csrf_token": csrf_in(head.get("/agency/people").text),
            "step": "add",
            "domain": "x.example",
        },
    )
    assert refused.status_code == 404 and last_kinds(web_world) == ["agency.domain.add.refused"]
    assert "E-mail domains of county" in head.get("/agency/people").text
