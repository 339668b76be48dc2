"""A role's day in a real browser (headless Debian chromium driven by Playwright), at a
laptop's width (1366 px) and a phone's (390 px), every page screenshotted and checked with
axe-core (no serious or critical violation) and none scrolling sideways:

- a gallery admin corrects a source's retention (a loosening, confirmed first), browses the
  gallery's photos with their provenance, opens an erasure request with the person's photo and,
  once a second person approved it, decides it by the faces found;
- a member of the public checks the signed receipt that erasure gave, on the public page;
- a system admin creates a network, an agency in it, and the agency's first account.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.rights import erasure
from tests.api.conftest import World
from tests.conftest import lfw_people, needs_lfw
from tests.org import PASSWORD
from tests.web.conftest import DESKTOP, Visits, recovery_code_for, sign_in

pytestmark = [needs_lfw, pytest.mark.one_backend]
Opener = Callable[..., Any]

PHONE = {"width": 390, "height": 844}
WIDTHS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366px", "390px"])


def _nav(page: Any, name: str) -> None:
    """Follows a link of the main navigation (on a phone, the same links wrap below)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def _fits(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """w => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > w)
            .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
            .slice(0, 8)""",
        page.viewport_size["width"],
    )
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide: {wide}"


def _look(visits: Visits, page: Any, name: str) -> None:
    _fits(page)
    visits.check(page, name)


@WIDTHS
def test_a_gallery_admins_day(
    open_page: Opener,
    web_world: World,
    visits: Visits,
    tmp_path: Path,
    viewport: dict[str, int],
) -> None:
    ctx, gus = web_world.ctx, web_world.org.people["gus"]
    name = f"day{viewport['width']}"
    # A gallery of its own (the world's is other tests'), holding the person to erase.
    person = lfw_people(60)[50 + (viewport["width"] == PHONE["width"])]
    photos = sorted(person.glob("*.jpg"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / photos[0].name).write_bytes(photos[0].read_bytes())
    galleries.create_gallery(ctx, gus, galleries.CreateGalleryRequest(name))
    galleries.add_source(
        ctx,
        gus,
        galleries.CreateSourceRequest(
            name, "walkins", "consented photographs", "Written consent", "County", "2026-10-01", 365
        ),
    )
    ingest(ctx, gus, IngestRequest(tmp_path / "in", name, "walkins"))

    page = open_page(viewport)
    sign_in(page, web_world, "gus")
    _look(visits, page, "home")
    _nav(page, "Galleries")
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=f"Gallery {name}")).to_be_visible()
    _look(visits, page, "gallery")

    # The source's retention was recorded too short: correcting it keeps photos longer.
    page.get_by_role("link", name="walkins", exact=True).click()
    page.get_by_label("Keep for (days)").fill("730")
    page.get_by_label("Why it changes").fill("The consent form says two years, not one")
    _look(visits, page, "source")
    page.get_by_role("button", name="Save the changes").click()
    expect(
        page.get_by_role("heading", name="Keep photos longer from source walkins?")
    ).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("kept for 730 days instead of 365")
    _look(visits, page, "source-confirm")
    page.get_by_role("button", name="Yes, keep them longer").click()
    expect(page.get_by_role("status").first).to_contain_text("Source walkins changed.")
    expect(page.get_by_role("table")).to_contain_text("730 days")

    page.get_by_role("link", name=re.compile(r"^Browse the 1 photos")).click()
    expect(page.get_by_role("status").first).to_contain_text("Photos 1 to 1 of 1")
    expect(page.get_by_role("img", name=re.compile(f"^Photo {photos[0].name}"))).to_be_visible()
    _look(visits, page, "photos")

    # The person asks to be erased, with another photo of theirs.
    _nav(page, "Erasure and retention")
    page.get_by_label("Your reference for the request").fill(f"DAY-{name}")
    page.get_by_label("How their identity was checked").fill("passport seen at the desk")
    page.get_by_label("Photos of the person").set_input_files(str(photos[1]))
    _look(visits, page, "erasure-new")
    page.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("status").first).to_contain_text("Waiting for a second person")
    erasure_id = int(page.url.rsplit("/", 1)[1])
    _look(visits, page, "erasure-waiting")

    # The agency's head approves (their own day); the faces found are decided by their crops.
    erasure.approve_erasure(ctx, web_world.org.people["head"], erasure_id, "identity seen, go")
    page.reload()
    found = page.get_by_role("group", name=re.compile(f"gallery {name}"))
    expect(found.get_by_role("img")).to_be_visible()
    _look(visits, page, "erasure-faces")
    found.get_by_label("The person", exact=True).check()
    page.get_by_role("button", name="Record the decisions").click()
    expect(page.get_by_role("main")).to_contain_text("decided by gus")
    _look(visits, page, "erasure-decided")

    # Retention, run by hand, says what it will remove before it does.
    _nav(page, "Erasure and retention")
    page.get_by_role("button", name="Run retention now…").click()
    expect(page.get_by_role("heading", name="Run retention now?")).to_be_visible()
    _look(visits, page, "retention-confirm")
    page.get_by_role("link", name="No, go back").click()
    expect(page.get_by_role("heading", name="Erasure and retention")).to_be_visible()

    # The head, the second person, completes it: the page says what goes, then asks again.
    head = open_page(viewport)
    sign_in(head, web_world, "head")
    head.goto(f"/erasures/{erasure_id}")
    head.get_by_role("button", name=re.compile("^Confirm the decisions, erase")).click()
    expect(head.get_by_role("heading", name=re.compile("^Erase what request"))).to_be_visible()
    expect(head.get_by_role("main")).to_contain_text("This cannot be undone.")
    _look(visits, head, "erasure-confirm")
    head.get_by_role("button", name="Yes, erase and sign the receipt").click()
    expect(head.get_by_role("link", name="Download the signed receipt")).to_be_visible()
    _look(visits, head, "erasure-done")
    done = erasure.show_erasure(ctx, web_world.org.people["head"], erasure_id)
    assert done.status == "done" and done.receipt is not None

    # Anyone checks the receipt the person was given, signed in or not.
    public = open_page(viewport)
    public.goto("/")
    public.get_by_role("link", name="Check an erasure receipt").click()
    public.get_by_label("The receipt").fill(done.receipt)
    _look(visits, public, "receipt-form")
    public.get_by_role("button", name="Check the receipt").click()
    expect(public.get_by_role("main")).to_contain_text("The receipt is genuine")
    _look(visits, public, "receipt-genuine")


@WIDTHS
def test_a_system_admins_day(
    open_page: Opener, web_world: World, visits: Visits, viewport: dict[str, int]
) -> None:
    network, agency = f"region{viewport['width']}", f"harbour{viewport['width']}"
    page = open_page(viewport)
    sign_in(page, web_world, "root")
    _look(visits, page, "home")
    _nav(page, "Agencies")
    _look(visits, page, "agencies")

    page.get_by_label("Name").last.fill(network)  # the network's form is the second
    page.get_by_role("button", name="Create the network").click()
    expect(page.get_by_role("status").first).to_contain_text(f"The network {network} is created")

    page.get_by_label("Name").first.fill(agency)
    page.get_by_label("Network (optional)").select_option(network)
    page.get_by_role("button", name="Create the agency").click()
    expect(page.get_by_role("status").first).to_contain_text(f"The agency {agency} is created")
    expect(page.get_by_role("main")).to_contain_text(network)
    _look(visits, page, "agency-created")

    page.get_by_role("link", name="Add its head").click()
    page.get_by_label("Username").fill(f"chief{viewport['width']}")
    page.get_by_label("Work e-mail").fill(f"chief{viewport['width']}@harbour.example")
    # The link filled in the agency and the role.
    expect(page.get_by_role("textbox", name="Agency")).to_have_value(agency)
    expect(page.get_by_role("checkbox", name="agency head")).to_be_checked()
    expect(page.get_by_role("checkbox", name="investigator")).not_to_be_checked()
    _look(visits, page, "person-new")
    page.get_by_role("button", name="Add the person").click()
    expect(page.get_by_role("heading", name=f"Added chief{viewport['width']}")).to_be_visible()
    expect(page.locator(".one-time code")).to_have_text(re.compile(r"\S{12,}"))
    _look(visits, page, "person-added")

    # A token for the nightly export script: the password and a fresh code again, shown once.
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill(f"nightly{viewport['width']}")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(recovery_code_for(web_world, "root"))
    _look(visits, page, "tokens")
    page.get_by_role("button", name="Make the token").click()
    expect(
        page.get_by_role("heading", name=f"Token nightly{viewport['width']} made")
    ).to_be_visible()
    _look(visits, page, "token-made")
