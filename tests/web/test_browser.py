"""The web app in a real browser (headless Debian chromium driven by Playwright) against a
real server: an investigator signs in with password and TOTP and searches an LFW photo, two
investigators review a candidate blind and the search closes as a lead; a supervisor of
another agency approves a search after reading its justification; a new account enrols its
authenticator from a QR code. Every page visited is screenshotted and checked with axe-core
(no serious or critical violation)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from playwright.sync_api import expect

from facetrail.governance.credentials import Role, totp_now, totp_uri
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.search_model import LEAD_NOTICE
from tests.api.conftest import World
from tests.conftest import LFW, needs_lfw
from tests.org import AGENCY, JUSTIFICATION, PASSWORD, mailed_invite
from tests.web.conftest import TABLET, Visits, code_for, sign_in

pytestmark = needs_lfw
Opener = Callable[..., Any]


def _probe(world: World) -> tuple[str, Path]:
    """A photo of a gallery person that is not the one in the gallery."""
    person = next(iter(world.photos))
    return person, sorted((LFW / person).glob("*.jpg"))[1]


def _search(page: Any, world: World, case: str) -> int:
    """Fills and sends the new-search form; the id of the search it made."""
    _person, photo = _probe(world)
    page.get_by_role("navigation").get_by_role("link", name="New search").click()
    page.get_by_label("Case number").fill(case)
    page.get_by_label("Offense").select_option("armed-robbery")
    page.get_by_role("checkbox", name="bookings").check()
    page.get_by_label("Justification").fill(JUSTIFICATION)
    page.get_by_label("Probe photo").set_input_files(str(photo))
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/searches/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _decoded_qr(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "the screenshot is not a PNG"
    text, _points, _straight = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)


def _review_first(page: Any, decision: str, note: str) -> Any:
    card = page.locator("li.card").first
    card.get_by_text(re.compile(r"^Review candidate")).click()
    card.get_by_role("radio", name=decision).check()
    card.get_by_label("Note").fill(note)
    card.get_by_role("button", name="Record my review").click()
    page.wait_for_load_state()
    return page.locator("li.card").first


def test_investigators_search_review_blind_and_close_a_lead(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    ivy = open_page()
    ivy.goto("/")
    expect(ivy).to_have_url(re.compile(r"/signin\?next=%2F$"))
    # Keyboard only: the first Tab reaches the skip link, which leads to the form; focus is
    # visible; the form is filled and sent from the keyboard.
    ivy.keyboard.press("Tab")
    skip = ivy.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    visits.check(ivy, "signin")
    ivy.keyboard.press("Enter")
    ivy.keyboard.press("Tab")
    username = ivy.get_by_label("Username")
    expect(username).to_be_focused()
    assert username.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    ivy.keyboard.type("ivy")
    ivy.keyboard.press("Tab")
    ivy.keyboard.type(PASSWORD)
    ivy.keyboard.press("Tab")
    ivy.keyboard.type(code_for(web_world, "ivy"))
    ivy.keyboard.press("Enter")
    expect(ivy.get_by_role("heading", name="Welcome, ivy")).to_be_visible()
    expect(ivy.get_by_role("link", name="Searches awaiting approval")).to_have_count(0)
    visits.check(ivy, "home-investigator")

    person, _photo = _probe(web_world)
    ivy.get_by_role("navigation").get_by_role("link", name="New search").click()
    visits.check(ivy, "search-form")
    search_id = _search(ivy, web_world, "2026-000123")
    expect(ivy.get_by_role("note")).to_have_text(LEAD_NOTICE)
    cards = ivy.locator("li.card")
    first = cards.first
    expect(first).to_contain_text(person)  # the same person ranks first
    expect(first).to_contain_text("False match rate")
    expect(first).to_contain_text("State Code 12-345")  # the source's legal basis
    crop = first.get_by_role("img")
    expect(crop).to_have_attribute("alt", re.compile("Face of candidate 1"))
    crop.scroll_into_view_if_needed()
    ivy.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=crop.element_handle())
    expect(ivy.get_by_role("table").first).to_contain_text("probe")  # the probe's faces
    visits.check(ivy, "search-result")

    first = _review_first(ivy, "Possible match", "same ears, scar above the left brow")
    expect(first).to_contain_text("ivy (review 1): Possible match")
    expect(first).to_contain_text("the second, independent review is still to come")
    visits.check(ivy, "search-reviewed-once")

    # A second investigator, on a tablet, does not see the first call before making theirs.
    ian = open_page(TABLET)
    sign_in(ian, web_world, "ian")
    ian.goto(f"/searches/{search_id}")
    expect(ian.get_by_role("note")).to_have_text(LEAD_NOTICE)
    expect(ian.locator("li.card").first).not_to_contain_text("ivy")
    assert ian.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    visits.check(ian, "second-review-tablet")
    first = _review_first(ian, "Possible match", "independent: nose, brow and hairline")
    expect(first).to_contain_text("ivy (review 1): Possible match")
    expect(first).to_contain_text("ian (review 2): Possible match")
    expect(first).to_contain_text("Fully reviewed.")
    visits.check(ian, "search-reviewed-twice")

    # The one who asked closes it as a lead: still a lead, never an identification.
    ivy.reload()
    ivy.get_by_role("radio", name="Investigative lead").check()
    ivy.get_by_label("Outcome note").fill("candidate 1 confirmed by two reviewers")
    ivy.get_by_role("button", name="Close the search").click()
    expect(ivy.get_by_text("Closed as Investigative lead")).to_be_visible()
    expect(ivy.get_by_role("note")).to_have_text(LEAD_NOTICE)
    visits.check(ivy, "search-closed")


def test_a_supervisor_of_another_agency_approves_a_pending_search(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    olga = open_page()
    sign_in(olga, web_world, "olga")
    search_id = _search(olga, web_world, "OT-2026-0042")
    expect(olga.get_by_text("waits for a supervisor's approval")).to_be_visible()
    expect(olga.locator("li.card")).to_have_count(0)
    visits.check(olga, "search-pending")

    otto = open_page()
    sign_in(otto, web_world, "otto")
    visits.check(otto, "home-supervisor")
    otto.get_by_role("navigation").get_by_role("link", name="Searches awaiting approval").click()
    card = otto.locator("li.card", has=otto.get_by_role("heading", name=f"Search {search_id}:"))
    expect(card).to_contain_text("olga")
    expect(card).to_contain_text(JUSTIFICATION)
    visits.check(otto, "approvals")
    card.get_by_label("Your note").fill("case open, justification is specific")
    card.get_by_role("button", name=f"Approve search {search_id}").click()
    expect(otto.get_by_role("status").first).to_contain_text(f"Search {search_id} approved")
    visits.check(otto, "approvals-decided")

    olga.reload()
    expect(olga.locator("li.card").first).to_be_visible()
    expect(olga.get_by_role("note")).to_have_text(LEAD_NOTICE)
    olga.get_by_role("link", name="Inbox").click()
    expect(olga.get_by_role("heading", name=f"search {search_id} approved")).to_be_visible()
    visits.check(olga, "inbox")


def test_a_new_account_enrols_its_authenticator_from_a_qr_code(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    acc.create_user(
        web_world.ctx,
        web_world.org.people["head"],
        NewAccount("nina", "nina@county.example", PASSWORD, AGENCY, (Role.INVESTIGATOR,)),
    )
    invite = mailed_invite(web_world.ctx, "nina")
    assert invite is not None
    nina = open_page(TABLET)
    nina.goto("/signin")
    nina.get_by_label("Username").fill("nina")
    nina.get_by_label("Password").fill(PASSWORD)
    nina.get_by_label("Code from your authenticator app").fill("000000")
    nina.get_by_role("button", name="Sign in").click()
    expect(nina).to_have_url(re.compile(r"/enrol\?username=nina"))
    expect(nina.get_by_role("status")).to_contain_text("no second factor yet")
    visits.check(nina, "enrol-start")

    nina.get_by_label("Password").fill(PASSWORD)
    nina.get_by_label("Enrolment code from your e-mail").fill(invite)
    nina.get_by_role("button", name="Show my QR code").click()
    qr = nina.get_by_role("img", name="QR code of the authenticator secret for nina")
    expect(qr).to_be_visible()
    assert qr.evaluate("e => e.tagName") == "svg"
    secret = nina.locator(".secret code").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    # What an authenticator app's camera reads from the screen is the secret's otpauth URI.
    assert _decoded_qr(qr.screenshot()) == totp_uri(secret, "nina")
    expect(nina.locator("ul.codes li")).to_have_count(10)
    visits.check(nina, "enrol-qr")

    nina.get_by_label("Password (again)").fill(PASSWORD)
    nina.get_by_label("Code from your authenticator app").fill(totp_now(secret))
    nina.get_by_role("button", name="Confirm and sign in").click()
    expect(nina.get_by_role("heading", name="Welcome, nina")).to_be_visible()
    visits.check(nina, "enrolled-home")
