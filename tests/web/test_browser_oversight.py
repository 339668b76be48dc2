"""The oversight pages in a real browser (headless Debian chromium driven by Playwright)
against a real server: an auditor filters the audit log, opens an entry's inclusion proof and
verifies the log; a gallery admin on a tablet creates a gallery, records its source and
ingests a folder of LFW photos, watching the job's progress live until it is done; the
agency's head amends the policy and sees what it relaxed, then looks over the agency's people
and searches and downloads a case's disclosure. Every page visited is screenshotted and
checked with axe-core (no serious or critical violation)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from facetrail.services.audit.log import make_checkpoint
from facetrail.services.galleries import jobs
from facetrail.services.oversight import alerts
from facetrail.services.oversight.policy import show_policy
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import DESKTOP, TABLET, Visits, lfw_folder, search_by, sign_in

#: A flow in the browser: its services run on PostgreSQL in their own tests; the browser
#: flow itself does not depend on the database, so it runs once, in the SQLite pass.
pytestmark = [needs_lfw, pytest.mark.one_backend]
Opener = Callable[..., Any]


PHONE = {"width": 390, "height": 844}


def _fits(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def test_an_auditor_filters_the_log_and_opens_a_proof(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    aude = open_page()
    sign_in(aude, web_world, "aude")
    visits.check(aude, "home-auditor")
    _nav(aude, "Audit log")
    expect(aude.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    visits.check(aude, "audit-log")

    aude.get_by_label("Actor").fill("ivy")
    aude.get_by_label("Kind").fill("auth.")
    aude.get_by_label("Kind").press("Enter")  # the filter form is sent from the keyboard
    expect(aude).to_have_url(re.compile(r"/audit\?actor=ivy&kind=auth\.&"))
    actors = aude.locator("table.log tbody td:nth-child(3)")
    expect(actors.first).to_have_text("ivy")
    assert set(actors.all_inner_texts()) == {"ivy"}
    visits.check(aude, "audit-log-filtered")

    make_checkpoint(web_world.ctx)  # the checkpointer signs the log as it stands
    first = aude.locator("table.log tbody tr").first.get_by_role("link")
    seq = str(first.get_attribute("href")).rsplit("/", 1)[1]
    first.click()
    expect(aude.get_by_role("heading", name=f"Audit entry {seq}")).to_be_visible()
    expect(aude.get_by_role("status")).to_contain_text("which the checkpoint signed at")
    expect(aude.locator("ol.hashes li").first).to_be_visible()
    visits.check(aude, "audit-entry-proof")

    aude.get_by_role("link", name="Back to the audit log").click()
    aude.get_by_role("link", name="Verify the log and see its checkpoints").click()
    expect(aude.get_by_role("status")).to_contain_text("The log verifies.")
    visits.check(aude, "audit-verification")


def test_a_gallery_admin_ingests_a_folder_and_watches_it_finish(
    open_page: Opener, web_world: World, visits: Visits, tmp_path: Path
) -> None:
    folder = lfw_folder(tmp_path / "walk-ins", 4, 3)
    gus = open_page(TABLET)
    sign_in(gus, web_world, "gus")
    _nav(gus, "Galleries")
    visits.check(gus, "galleries")

    gus.get_by_label("Name").fill("walkins")
    gus.get_by_label("Description").fill("People photographed with their consent")
    gus.get_by_role("button", name="Create the gallery").click()
    expect(gus.get_by_role("status").first).to_contain_text("Gallery walkins created")
    assert gus.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    visits.check(gus, "gallery-created")

    source = gus.get_by_role("region", name="Add a source")
    source.get_by_label("Name").fill("consented")
    source.get_by_label("Kind").fill("consented photographs")
    source.get_by_label("Legal basis").fill("Written consent, County Order 7/2026")
    source.get_by_label("Supplied by").fill("County Sheriff")
    source.get_by_label("Collected on").fill("2026-10-01")
    source.get_by_label("Keep for (days)").fill("730")
    source.get_by_role("button", name="Add the source").click()
    expect(gus.get_by_role("status").first).to_contain_text("Source consented added.")
    expect(gus.get_by_role("table")).to_contain_text("Written consent, County Order 7/2026")

    gus.get_by_label("Folder on the server").fill(str(folder))
    gus.get_by_role("button", name="Start ingesting").click()
    expect(gus).to_have_url(re.compile(r"/jobs/\d+$"))
    job_id = int(gus.url.rsplit("/", 1)[1])
    expect(gus.locator("[data-job-state]")).to_have_text("Queued")
    visits.check(gus, "job-queued")

    # The service's scheduler would start it; here the test is the worker, while the page
    # follows the job by itself.
    worker = threading.Thread(target=jobs.run_pending, args=(web_world.ctx, "test"))
    worker.start()
    expect(gus.get_by_role("heading", name="Summary")).to_be_visible(timeout=60_000)
    worker.join()
    expect(gus.locator("[data-job-state]")).to_have_text("Done")
    expect(gus.locator("#job-count")).to_have_text("3 of 3 files")
    assert gus.locator("progress").evaluate("p => p.value === p.max")
    expect(gus.locator("dl.facts").last).to_contain_text("Photos ingested3")
    visits.check(gus, "job-done")

    _nav(gus, "Ingestion jobs")
    expect(gus.get_by_role("link", name=f"Job {job_id}")).to_be_visible()
    visits.check(gus, "jobs")


def test_the_head_relaxes_the_policy_and_looks_over_the_agency(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    search_by(web_world, "ivy", "2026-000900")
    before = show_policy(web_world.ctx, web_world.org.people["head"], "county").policy
    head = open_page()
    sign_in(head, web_world, "head")
    _nav(head, "Agency policy")
    expect(head.get_by_role("heading", name="Policy of county")).to_be_visible()
    visits.check(head, "policy")

    head.get_by_label("Searches a person may ask for in 24 hours").fill(
        str(before.daily_limit + 10)
    )
    head.get_by_label("Reason for the change").fill("Festival week: more searches are needed")
    head.get_by_role("button", name="Make it the new version").click()
    # Loosening: the page says what it allows and asks again (axe checks it too).
    expect(head.get_by_role("heading", name="Relax the policy of county?")).to_be_visible()
    expect(head.get_by_role("main")).to_contain_text(
        f"daily limit raised to {before.daily_limit + 10}"
    )
    visits.check(head, "policy-confirm")
    head.get_by_role("button", name="Yes, make this change").click()
    expect(head.get_by_role("status").first).to_contain_text(
        f"It relaxed: daily limit raised to {before.daily_limit + 10}"
    )
    newest = head.locator("ol.versions > li").first
    expect(newest.locator(".badge")).to_have_text("RELAXED")
    expect(newest).to_contain_text("Festival week")
    visits.check(head, "policy-relaxed")

    _nav(head, "People")
    expect(head.get_by_role("table")).to_contain_text("gallery admin")
    visits.check(head, "people")

    _nav(head, "Agency searches")
    head.get_by_label("Case number").fill("2026-000900")
    head.get_by_role("button", name="Show searches").click()
    visits.check(head, "agency-searches")
    head.locator("tbody tr").first.get_by_role("link", name=re.compile(r"^Search ")).click()
    head.get_by_role("link", name=re.compile("Case 2026-000900")).click()
    expect(head.get_by_role("heading", name="Case 2026-000900", exact=True)).to_be_visible()
    visits.check(head, "case")
    with head.expect_download() as downloading:
        head.get_by_role("link", name="Download the disclosure (JSON)").click()
    download = downloading.value
    assert download.suggested_filename == "disclosure-2026-000900.json"
    assert json.loads(Path(download.path()).read_text())["case_number"] == "2026-000900"
    with head.expect_download() as downloading:
        head.get_by_role("link", name=re.compile(r"Download the disclosure \(PDF")).click()
    printable = downloading.value
    assert printable.suggested_filename == "disclosure-2026-000900.pdf"
    assert Path(printable.path()).read_bytes().startswith(b"%PDF-")
    # Found again by its number from the header of any page.
    head.get_by_role("search", name="Find a case by its number").first.get_by_label(
        "Find a case"
    ).fill("2026-000900")
    head.get_by_role("button", name="Find", exact=True).first.click()
    expect(head.get_by_role("heading", name="Case 2026-000900", exact=True)).to_be_visible()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_the_head_reads_the_charts_handles_an_alert_and_adds_a_person(
    open_page: Opener, web_world: World, visits: Visits, viewport: dict[str, int]
) -> None:
    wide = viewport is DESKTOP
    first, second = ("2026-000951", "2026-000952") if wide else ("2026-000971", "2026-000972")
    search_by(web_world, "ian", first)
    search_by(web_world, "ian", second)  # the same photo: a probe_cases alert
    alerts.raise_alerts(web_world.ctx)
    head = open_page(viewport)
    sign_in(head, web_world, "head")
    _nav(head, "Oversight")
    expect(head.get_by_role("heading", name="Oversight of county")).to_be_visible()
    expect(head.get_by_role("main")).to_contain_text(second)  # in its searches
    expect(head.get_by_role("img", name=re.compile("^Searches per"))).to_be_visible()
    expect(head.get_by_role("img", name=re.compile("^Searches by person"))).to_be_visible()
    _fits(head)
    visits.check(head, "oversight")

    _nav(head, "Alerts")
    expect(head.get_by_role("heading", name="Misuse alerts")).to_be_visible()
    card = head.locator("li.card", has_text=second).first
    card.get_by_label("Your note").fill("Asked ian: one robbery suspect, two cases")
    card.get_by_role("button", name=re.compile(r"^Acknowledge alert")).click()
    expect(head.get_by_role("status").first).to_contain_text("recorded")
    _fits(head)
    visits.check(head, "alerts")

    # A new colleague joins: the head adds them and hands over the one-time password.
    _nav(head, "People")
    head.get_by_role("link", name="Add a person").click()
    name = f"newcomer{viewport['width']}"
    head.get_by_label("Username").fill(name)
    head.get_by_label("Work e-mail").fill(f"{name}@county.example")
    _fits(head)
    visits.check(head, "person-new")
    head.get_by_role("button", name="Add the person").click()
    expect(head.get_by_role("heading", name=f"Added {name}")).to_be_visible()
    _fits(head)
    visits.check(head, "person-added")


def test_the_public_reads_an_agencys_transparency_report(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    search_by(web_world, "ivy", "2026-000961")
    now = datetime.now(UTC)
    over = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    # Once this month is over (the server's clock travels; a report covers a month that is).
    with time_machine.travel(over + timedelta(hours=1)):
        public = open_page()
        public.goto("/")
        public.get_by_role("link", name="Transparency reports").click()
        expect(public.get_by_role("heading", name="Transparency reports")).to_be_visible()
        public.get_by_label("Agency or network").select_option("agency:county")
        public.get_by_label("Month (UTC, one that is over)").fill(f"{now:%Y-%m}")
        public.get_by_role("button", name="Show the report").click()
        expect(public.get_by_role("img", name=re.compile("^Searches by offense"))).to_be_visible()
        visits.check(public, "transparency")


def test_a_gallery_admin_opens_the_erasure_page(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    gus = open_page()
    sign_in(gus, web_world, "gus")
    _nav(gus, "Erasure and retention")
    expect(gus.get_by_role("heading", name="Erasure and retention")).to_be_visible()
    expect(gus.get_by_label("Photos of the person")).to_be_visible()
    visits.check(gus, "erasures")
