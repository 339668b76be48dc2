"""The web app in a real browser (headless Debian chromium driven by Playwright) against a
real server: an investigator signs in with password and TOTP, picks the face to search among
the faces boxed over a photo of two people (after the policy refused a short justification),
sees each candidate beside the probe's face, two investigators review a candidate blind (the
review, the hand-off to a named colleague and the second review done with the keyboard alone:
Tab to each control, Enter or Space to use it) and the search closes as a lead; a supervisor of
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
import pytest
from playwright.sync_api import expect

from facetrail.governance.credentials import Role, totp_now, totp_uri
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.searching.search_model import LEAD_NOTICE
from facetrail.store.schema import SearchRecord
from tests.api.conftest import World
from tests.conftest import LFW, lfw_people, needs_lfw
from tests.org import AGENCY, JUSTIFICATION, PASSWORD, mailed_invite
from tests.web.conftest import DESKTOP, TABLET, Visits, code_for, last_kinds, sign_in

#: A flow in the browser: its services run on PostgreSQL in their own tests; the browser
#: flow itself does not depend on the database, so it runs once, in the SQLite pass.
pytestmark = [needs_lfw, pytest.mark.one_backend]
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
    page.get_by_role("checkbox", name=re.compile("^I attest")).check()
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/searches/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _two_people(world: World, folder: Path) -> Path:
    """A photo of two people side by side: on the left, larger, someone not in the gallery;
    on the right, the gallery person of ``_probe``."""
    _person, photo = _probe(world)
    stranger = cv2.imread(str(sorted(lfw_people(5)[4].glob("*.jpg"))[0]))
    stranger = cv2.resize(stranger, None, fx=1.3, fy=1.3)
    subject = cv2.imread(str(photo))
    pad = stranger.shape[0] - subject.shape[0]
    grey = (128, 128, 128)
    subject = cv2.copyMakeBorder(
        subject, pad // 2, pad - pad // 2, 0, 0, cv2.BORDER_CONSTANT, value=grey
    )
    path = folder / "two-people.jpg"
    cv2.imwrite(str(path), cv2.hconcat([stranger, subject]))
    return path


def _pick_the_face_and_search(page: Any, world: World, photo: Path, visits: Visits) -> int:
    """The new-search form with a photo of two people: the policy's refusal of a short
    justification shows with its code; then the faces are boxed over the photo and listed
    with their quality, and the one on the right (the gallery person) is picked and
    searched. -> the search's id."""
    page.get_by_label("Case number").fill("2026-000123")
    page.get_by_label("Offense").select_option("armed-robbery")
    page.get_by_role("checkbox", name="bookings").check()
    page.get_by_label("Justification").fill("too short")
    page.get_by_label("Probe photo").set_input_files(str(photo))
    refusal = page.locator("[data-face-picker]").get_by_role("alert")
    expect(refusal).to_contain_text("justification needs at least 30 characters")
    expect(refusal).to_contain_text("Code: justification_too_short")
    assert last_kinds(world) == ["search.preview.refused"]

    page.get_by_label("Justification").fill(JUSTIFICATION)
    page.get_by_label("Justification").press("Tab")  # changed: the faces are looked for again
    faces = page.get_by_role("group", name="Face to search")
    largest = faces.get_by_role("radio", name=re.compile(r"^Face 1 \(largest\)"))
    expect(largest).to_be_checked()
    expect(refusal).to_have_count(0)
    quality = re.compile(r"detector score \d\.\d\d, eyes \d+ px apart, sharpness \d+, turned \d+°")
    expect(largest).to_have_accessible_name(quality)
    boxes = page.locator(".face-box")
    assert boxes.count() >= 2 and faces.get_by_role("radio").count() == boxes.count()
    expect(page.get_by_role("img", name=re.compile("Your photo two-people.jpg"))).to_be_visible()
    # Keyboard: the arrow keys move between the faces.
    largest.focus()
    page.keyboard.press("ArrowDown")
    expect(faces.get_by_role("radio", name=re.compile(r"^Face 2"))).to_be_checked()
    picked = faces.get_by_role("radio", name=re.compile(r"^Face \d+.*right, middle of the photo"))
    picked.check()
    index = str(picked.get_attribute("value"))
    expect(page.locator(".face-box.chosen")).to_have_attribute("data-face", index)
    visits.check(page, "face-picker")
    page.get_by_role("checkbox", name=re.compile("^I attest")).check()
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/searches/\d+$"))
    search_id = int(page.url.rsplit("/", 1)[1])
    with world.ctx.sessions() as session:
        record = session.get(SearchRecord, search_id)
        assert record is not None and record.face == int(index)
    return search_id


def _loaded(page: Any, image: Any) -> None:
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )


def _decoded_qr(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "the screenshot is not a PNG"
    text, _points, _straight = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)


_FOCUSED_NAME = """() => {
  const e = document.activeElement;
  if (!e) return "";
  const label = e.labels && e.labels.length ? e.labels[0].innerText : "";
  return (label || e.getAttribute("aria-label") || e.innerText || "").trim();
}"""


def _tab_to(page: Any, name: str, most: int = 400) -> None:
    """Press Tab until the focused control's name matches ``name`` (a regex): the keyboard
    alone reaches it, in the page's order."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if re.search(name, page.evaluate(_FOCUSED_NAME)):
            return
    raise AssertionError(f"Tab never reached {name!r}")


def _type_sign_in(page: Any, world: World, name: str) -> None:
    """From the focused username field, the sign-in form typed and sent by keyboard."""
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(code_for(world, name))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()


def _review_first_by_keyboard(page: Any, decision: str, note: str) -> Any:
    """The first card's review with the keyboard alone: unfold its form, choose, write the
    note, send. -> the first card, as the page shows it after."""
    _tab_to(page, r"^Review candidate")
    page.keyboard.press("Enter")
    _tab_to(page, rf"^{decision}")
    page.keyboard.press("Space")
    _tab_to(page, r"^Note")
    page.keyboard.type(note)
    _tab_to(page, r"^Record my review")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    return page.locator("li.card").first


def test_investigators_search_review_blind_and_close_a_lead(
    open_page: Opener, web_world: World, visits: Visits, tmp_path: Path
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
    _type_sign_in(ivy, web_world, "ivy")
    expect(ivy.get_by_role("link", name="Searches awaiting approval")).to_have_count(0)
    visits.check(ivy, "home-investigator")

    # The password page, from the header: a form of its own (signed in or not).
    ivy.get_by_role("link", name="Change password").click()
    expect(ivy.get_by_label("Username")).to_have_value("ivy")
    visits.check(ivy, "password")
    ivy.go_back()

    person, _photo = _probe(web_world)
    ivy.get_by_role("navigation").get_by_role("link", name="New search").click()
    visits.check(ivy, "search-form")
    search_id = _pick_the_face_and_search(ivy, web_world, _two_people(web_world, tmp_path), visits)
    expect(ivy.get_by_role("note")).to_have_text(LEAD_NOTICE)
    cards = ivy.locator("li.card")
    first = cards.first
    expect(first).to_contain_text(person)  # the picked face's person ranks first
    expect(first).to_contain_text("False match rate")
    expect(first).to_contain_text("State Code 12-345")  # the source's legal basis
    # Each candidate beside the probe's face that was searched.
    _loaded(
        ivy,
        first.get_by_role("img", name="The probe's face that was searched, from two-people.jpg"),
    )
    _loaded(ivy, first.get_by_role("img", name=re.compile(r"Face of candidate \d+")))
    expect(first.locator("figcaption")).to_have_text(["Probe", re.compile(r"Candidate \d+")])
    # Compared larger, side by side, and back.
    first.get_by_role("button", name="Compare larger").click()
    expect(first.locator(".compare")).to_have_class(re.compile("zoomed"))
    visits.check(ivy, "search-result-compare")
    first.get_by_role("button", name="Compare smaller").click()
    expect(ivy.get_by_role("table").first).to_contain_text("two-people.jpg")  # the probe's faces
    visits.check(ivy, "search-result")

    # Her review and the hand-off, with the keyboard alone.
    first = _review_first_by_keyboard(ivy, "Possible match", "same ears, scar above the left brow")
    expect(first).to_contain_text("ivy (review 1): Possible match")
    expect(first).to_contain_text("the second, independent review is still to come")
    visits.check(ivy, "search-reviewed-once")
    # ivy asks ian, by name, for the second review: he is told in his inbox.
    _tab_to(ivy, r"^Colleague's username")
    ivy.keyboard.type("ian")
    ivy.keyboard.press("Enter")
    expect(ivy.get_by_role("status")).to_contain_text("ian is asked for the second review")
    visits.check(ivy, "second-review-asked")

    # A second investigator, on a tablet, finds it waiting for him (no address typed), and
    # does not see the first call before making theirs.
    # He works with the keyboard alone: Tab to each control, Enter or Space to use it.
    ian = open_page(TABLET)
    ian.goto("/signin")
    _tab_to(ian, r"^Username")
    _type_sign_in(ian, web_world, "ian")
    _tab_to(ian, r"^Reviews waiting")
    ian.keyboard.press("Enter")
    expect(ian.get_by_role("heading", name="Reviews waiting for you")).to_be_visible()
    assert ian.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    visits.check(ian, "reviews-waiting-tablet")
    _tab_to(ian, rf"^Search {search_id}$")
    ian.keyboard.press("Enter")
    expect(ian).to_have_url(re.compile(rf"/searches/{search_id}$"))
    expect(ian.get_by_role("note")).to_have_text(LEAD_NOTICE)
    expect(ian.locator("li.card").first).not_to_contain_text("ivy")
    assert ian.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    visits.check(ian, "second-review-tablet")
    first = _review_first_by_keyboard(ian, "Possible match", "independent: nose, brow and hairline")
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


def test_investigators_day_on_a_phone(open_page: Opener, web_world: World, visits: Visits) -> None:
    """The same day at 390 px: a search, the first review, the hand-off to a named colleague
    who finds it in his queue, his blind review and the lead recorded, with nothing wider
    than the screen."""
    phone = {"width": 390, "height": 844}

    def fits(page: Any) -> None:
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url

    ivy = open_page(phone)
    sign_in(ivy, web_world, "ivy")
    search_id = _search(ivy, web_world, "2026-000777")
    expect(ivy.get_by_role("note")).to_have_text(LEAD_NOTICE)
    expect(ivy.locator("li.card").first).to_be_visible()
    fits(ivy)
    visits.check(ivy, "phone-result")
    first = _review_first_by_keyboard(ivy, "Possible match", "same ears and the scar on the brow")
    expect(first).to_contain_text("ivy (review 1): Possible match")
    _tab_to(ivy, r"^Colleague's username")
    ivy.keyboard.type("ian")
    ivy.keyboard.press("Enter")
    expect(ivy.get_by_role("status")).to_contain_text("ian is asked for the second review")
    fits(ivy)
    visits.check(ivy, "phone-second-review-asked")

    ian = open_page(phone)
    sign_in(ian, web_world, "ian")
    ian.get_by_role("navigation").get_by_role("link", name=re.compile("^Reviews waiting")).click()
    ian.get_by_role("link", name=f"Search {search_id}", exact=True).click()
    expect(ian.locator("li.card").first).not_to_contain_text("ivy")  # blind
    fits(ian)
    visits.check(ian, "phone-second-review")
    first = _review_first_by_keyboard(ian, "Possible match", "independently: nose and hairline")
    expect(first).to_contain_text("Fully reviewed.")

    ivy.reload()
    ivy.get_by_role("radio", name="Investigative lead").check()
    ivy.get_by_label("Outcome note").fill("two reviewers agree: a lead to follow up")
    ivy.get_by_role("button", name="Close the search").click()
    expect(ivy.get_by_text("Closed as Investigative lead")).to_be_visible()
    fits(ivy)
    visits.check(ivy, "phone-search-closed")


@pytest.mark.parametrize(
    "viewport", [DESKTOP, {"width": 390, "height": 844}], ids=["1366px", "390px"]
)
def test_a_supervisor_of_another_agency_approves_a_pending_search(
    open_page: Opener, web_world: World, visits: Visits, viewport: dict[str, int]
) -> None:
    olga = open_page(viewport)
    sign_in(olga, web_world, "olga")
    search_id = _search(olga, web_world, "OT-2026-0042")
    expect(olga.get_by_text("waits for a supervisor's approval")).to_be_visible()
    expect(olga.locator("li.card")).to_have_count(0)
    visits.check(olga, "search-pending")

    otto = open_page(viewport)
    sign_in(otto, web_world, "otto")
    visits.check(otto, "home-supervisor")
    # The navigation's badge says a search waits for him: he needs no address from olga.
    badge = otto.get_by_role("navigation").get_by_role("link", name="Searches awaiting approval")
    expect(badge.locator(".count")).to_contain_text("waiting for you")
    badge.click()
    card = otto.locator("li.card", has=otto.get_by_role("heading", name=f"Search {search_id}:"))
    expect(card).to_contain_text("olga")
    expect(card).to_contain_text(JUSTIFICATION)
    visits.check(otto, "approvals")
    card.get_by_label("Your note").fill("case open, justification is specific")
    card.get_by_role("button", name=f"Approve search {search_id}").click()
    expect(otto.get_by_role("heading", name=f"Approve search {search_id}?")).to_be_visible()
    visits.check(otto, "approval-confirm")
    otto.get_by_role("button", name=f"Yes, approve search {search_id}").click()
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


def test_the_api_docs_render_offline_under_the_pages_csp(browser: Any, live_server: str) -> None:
    """/docs is Swagger UI from facetrail's own files: with every other origin unreachable and
    the page's Content-Security-Policy enforced (no bypass here), it lists the API's routes,
    and the browser reports no refused script, style or request."""
    context = browser.new_context(base_url=live_server)
    problems: list[str] = []
    elsewhere: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    try:
        context.route("**/*", only_here)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto("/docs")
        expect(page.get_by_text("/api/v1/session").first).to_be_visible()
        expect(page.locator(".opblock").first).to_be_visible()
    finally:
        context.close()
    assert not problems and not elsewhere, (problems, elsewhere)
