"""Oversight in the browser's pages, without a browser (issue 14): the head sees every person
and search of the agency with the week's digest; the auditor acknowledges and closes an alert
with a note on the alerts page; an investigator is refused both (audited)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from fastapi.testclient import TestClient

from facetrail.governance.receipts import open_receipt
from facetrail.services.audit import log as audit
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.oversight import alerts
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import csrf_in, is_error_page, last_kinds, lfw_folder, search_by

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]


def test_the_head_oversees_people_searches_and_the_digest(
    web_world: World, client_of: Clients
) -> None:
    ours = search_by(web_world, "ivy", "2026-000801")
    answer = client_of("head").get("/agency/oversight")
    assert answer.status_code == 200 and "Oversight of county" in answer.text
    assert f'href="/searches/{ours}"' in answer.text and "2026-000801" in answer.text
    people = set(re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>county", answer.text))
    assert {"head", "ivy", "aude"} <= people and not {"olga", "otto"} & people
    assert '<h2 id="digest">Digest of ' in answer.text and "<dt>By person</dt>" in answer.text
    assert last_kinds(web_world, 3) == ["oversight.trends", "oversight.view", "digest.view"]
    # The use over time in charts, roles in words.
    assert 'aria-label="Searches per day: ' in answer.text and "Searches by person" in answer.text
    assert "agency head" in answer.text and ">agency_head<" not in answer.text
    today = datetime.now(UTC).date().isoformat()
    hers = client_of("head").get(
        "/agency/oversight", params={"person": "ivy", "since": today, "until": today}
    )
    assert hers.status_code == 200 and f"from {today} to {today} by ivy" in hers.text
    day = re.search(r'aria-label="Searches per day: ([^"]*)"', hers.text)
    assert day is not None and day.group(1).startswith(f"{today} ")  # ivy searched today
    bad = client_of("head").get("/agency/oversight", params={"since": "last week"})
    assert bad.status_code == 422 and "is not a date" in bad.text
    refused = client_of("ivy").get("/agency/oversight")
    assert refused.status_code == 404 and is_error_page(refused.text, "not_found")
    assert last_kinds(web_world) == ["oversight.trends.refused"]  # the first read refused


def test_the_auditor_acknowledges_and_closes_an_alert_with_a_note(
    web_world: World, client_of: Clients
) -> None:
    first = search_by(web_world, "ian", "2026-000811")
    second = search_by(web_world, "ian", "2026-000812")
    alerts.raise_alerts(web_world.ctx)
    aude = client_of("aude")
    listing = aude.get("/alerts", params={"status": "open"})
    assert listing.status_code == 200
    ids = re.findall(r'<h2 class="h3" id="alert-(\d+)">Alert \d+: probe cases', listing.text)
    mine = [
        i
        for i in ids
        if f'href="/searches/{first}"' in listing.text.split(f'id="alert-{i}"')[1].split("</li>")[0]
        and f'href="/searches/{second}"' in listing.text.split(f'id="alert-{i}"')[1]
    ]
    assert mine, listing.text
    alert_id = mine[0]
    token = csrf_in(listing.text)
    short = aude.post(
        f"/alerts/{alert_id}", data={"csrf_token": token, "step": "close", "note": "ok"}
    )
    assert short.status_code in (400, 422) and is_error_page(short.text, "invalid_request")
    seen = aude.post(
        f"/alerts/{alert_id}",
        data={"csrf_token": token, "step": "acknowledge", "note": "asking ian about both"},
    )
    assert seen.status_code == 303 and seen.headers["location"] == f"/alerts?done={alert_id}"
    closed = aude.post(
        f"/alerts/{alert_id}",
        data={"csrf_token": token, "step": "close", "note": "two cases, one suspect: fine"},
    )
    assert closed.status_code == 303
    after = aude.get("/alerts", params={"status": "closed"}).text
    assert f'id="alert-{alert_id}"' in after and "two cases, one suspect: fine" in after
    assert client_of("ivy").get("/alerts").status_code == 404


def test_the_public_reads_transparency_reports_without_signing_in(web_world: World) -> None:
    search_by(web_world, "ivy", "2026-000821")
    public = TestClient(web_world.client.app, raise_server_exceptions=False)
    answer = public.get("/transparency")
    assert answer.status_code == 200 and "Every agency with access" in answer.text
    assert "<td>county</td>" in answer.text and "<td>other</td>" in answer.text
    # This month's report waits for the month to end.
    now = datetime.now(UTC)
    month, over = f"{now:%Y-%m}", (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    early = public.get("/transparency", params={"scope": "agency:county", "month": month})
    assert early.status_code == 422 and "not over yet" in early.text
    with time_machine.travel(over + timedelta(hours=1)):
        report = public.get("/transparency", params={"scope": "agency:county"})
        assert report.status_code == 200 and "<svg" in report.text
        link = re.search(r'href="(/api/v1/reports/transparency\?[^"]*format=html)"', report.text)
        assert link is not None
        page = public.get(link.group(1).replace("&amp;", "&"))
    searches = re.search(r"<td>Searches</td><td>([^<]+)</td>", report.text)
    assert searches is not None  # at least the one above, and never shown as 1 to 4
    assert searches.group(1) == "fewer than 5" or int(searches.group(1)) >= 5
    assert "2026-000821" not in report.text and ">ivy<" not in report.text
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    bad = public.get("/transparency", params={"scope": "agency:nowhere"})
    assert bad.status_code == 404 and "nowhere" in bad.text


def test_a_gallery_admin_erases_a_person_and_downloads_the_receipt(
    web_world: World, client_of: Clients, tmp_path: Path
) -> None:
    folder = lfw_folder(tmp_path / "visitor", 30, 1)
    photo = next(folder.iterdir())
    ingest(web_world.ctx, web_world.org.people["gus"], IngestRequest(folder, "bookings", "county"))
    gus = client_of("gus")
    listing = gus.get("/erasures")
    assert listing.status_code == 200 and "A new request" in listing.text
    token = csrf_in(listing.text)
    short = gus.post(
        "/erasures",
        data={"csrf_token": token, "reference": "WEB-1", "identity_check": "id"},
        files=[("photos", (photo.name, photo.read_bytes(), "image/jpeg"))],
    )
    assert short.status_code == 422 and "identity" in short.text and 'value="WEB-1"' in short.text
    opened = gus.post(
        "/erasures",
        data={"csrf_token": token, "reference": "WEB-1", "identity_check": "passport at desk"},
        files=[("photos", (photo.name, photo.read_bytes(), "image/jpeg"))],
    )
    assert opened.status_code == 303
    page_url = opened.headers["location"]
    waiting = gus.get(page_url).text
    assert "Waiting for a second person" in waiting and 'name="match-' not in waiting
    assert 'value="approve"' not in waiting  # the opener is not offered the approval
    photo_url = f"{page_url}/photos/1"
    assert photo_url in waiting and gus.get(photo_url).content[:2] == b"\xff\xd8"
    # The opener's agency head approves; only then are the faces found.
    head = client_of("head")
    seen = head.get(page_url).text
    assert 'value="approve"' in seen
    approved = head.post(
        page_url,
        data={"csrf_token": csrf_in(seen), "step": "approve", "note": "identity check seen"},
    )
    assert approved.status_code == 303
    shown = gus.get(page_url).text
    matches = re.findall(r'name="(match-\d+)" value="confirmed"', shown)
    assert len(matches) == 1
    crop_url = re.search(r'src="(/erasures/\d+/matches/\d+/crop)"', shown)
    assert crop_url and gus.get(crop_url.group(1)).content[:2] == b"\xff\xd8"
    decided = gus.post(
        page_url, data={"csrf_token": token, "step": "decide", matches[0]: "confirmed"}
    )
    assert decided.status_code == 303
    refused = gus.post(page_url, data={"csrf_token": token, "step": "complete"})
    assert refused.status_code == 403  # whoever decided does not confirm their own decisions
    # Erasing cannot be undone: the page says what will go, and asks again.
    asked = head.post(page_url, data={"csrf_token": csrf_in(seen), "step": "complete"})
    assert asked.status_code == 200 and "Erase what request WEB-1 found?" in asked.text
    assert "1 face confirmed as the person by gus (gallery bookings)" in asked.text
    assert "This cannot be undone." in asked.text and "Download the signed receipt" not in (
        gus.get(page_url).text
    )
    done = head.post(
        page_url, data={"csrf_token": csrf_in(seen), "step": "complete", "confirmed": "yes"}
    )
    assert done.status_code == 303
    finished = gus.get(page_url).text
    assert "Download the signed receipt" in finished
    receipt = gus.get(f"{page_url}/receipt")
    assert receipt.status_code == 200 and "attachment" in receipt.headers["content-disposition"]
    rid, body = open_receipt(receipt.text, audit.public_key(web_world.ctx))
    assert rid in finished and len(body["removed"]["images"]) == 1
    assert client_of("ivy").get("/erasures").status_code == 403

    # Anyone checks the receipt on the public page, signed in or not, with the published key.
    public = TestClient(web_world.client.app, raise_server_exceptions=False)
    form = public.get("/receipts")
    assert form.status_code == 200 and "Check the receipt" in form.text
    before = last_kinds(web_world, 1)
    checked = public.post("/receipts", data={"receipt": receipt.text})
    assert checked.status_code == 200 and "The receipt is genuine" in checked.text
    assert rid in checked.text and "<dt>Images removed</dt><dd>1</dd>" in checked.text
    forged = receipt.text.replace('"WEB-1"', '"WEB-2"')
    refused = public.post("/receipts", data={"receipt": forged})
    assert refused.status_code == 422 and "does not verify" in refused.text
    assert "The receipt is genuine" not in refused.text and "WEB-2" in refused.text  # kept
    # A key is pasted as its text: never a path read on the server.
    path = public.post("/receipts", data={"receipt": receipt.text, "key": "/etc/passwd"})
    assert path.status_code == 422 and "not a public key" in path.text
    assert "root:" not in path.text
    assert last_kinds(web_world, 1) == before  # nothing recorded: it is the holder's own


def test_the_head_replaces_the_open_case_list_from_a_file_or_pasted(
    web_world: World, client_of: Clients
) -> None:
    head = client_of("head")
    page = head.get("/alerts").text
    token = csrf_in(page)
    exported = b"case_number,opened\n2026-000101,2026-01-02\n2026-000102,2026-02-03\n"
    sent = head.post(
        "/alerts/open-cases",
        data={"csrf_token": token},
        files=[("file", ("open.csv", exported, "text/csv"))],
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/alerts?open_cases=2#open-cases"
    assert "The open-case list now holds 2 case numbers." in head.get(sent.headers["location"]).text
    assert "cases.import" in last_kinds(web_world, 4)
    pasted = head.post(
        "/alerts/open-cases", data={"csrf_token": token, "cases": "2026-000103\n\n2026-000104\n"}
    )
    assert pasted.headers["location"].startswith("/alerts?open_cases=2")
    bad = head.post("/alerts/open-cases", data={"csrf_token": token, "cases": "2026-0001 <b>"})
    assert bad.status_code == 422 and last_kinds(web_world) == ["cases.import.refused"]
    ivy = client_of("ivy")
    refused = ivy.post(
        "/alerts/open-cases",
        data={"csrf_token": csrf_in(ivy.get("/").text), "cases": "2026-000105"},
    )
    assert refused.status_code == 404 and last_kinds(web_world) == ["cases.import.refused"]
