"""A crowd probe in the browser (issue 25), at a phone's width: an investigator picks a photo
of a demonstration (six LFW faces in one image) on the new-search form; the face picker says
before the search that it is a crowd and what the policy does with it, the search is held for
a supervisor and its page says why, and the supervisor's queue names it as a crowd probe. Every
page screenshotted and axe-checked, none scrolling sideways."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.api.conftest import World
from tests.conftest import lfw_people, needs_lfw
from tests.crowd import composed_photo
from tests.org import JUSTIFICATION
from tests.web.conftest import PHONE, Visits, look, sign_in

pytestmark = [needs_lfw, pytest.mark.one_backend]
Opener = Callable[..., Any]


def test_a_crowd_photo_is_said_before_the_search_and_held_for_approval(
    open_page: Opener, web_world: World, visits: Visits, tmp_path: Path
) -> None:
    photo = tmp_path / "rally.jpg"
    photo.write_bytes(composed_photo([sorted(p.glob("*.jpg"))[0] for p in lfw_people(6)]))
    ivy = open_page(viewport=PHONE)
    sign_in(ivy, web_world, "ivy")
    ivy.get_by_role("navigation").get_by_role("link", name="New search").click()
    ivy.get_by_label("Case number").fill("2026-000811")
    ivy.get_by_label("Offense").select_option("armed-robbery")
    ivy.get_by_role("checkbox", name="bookings").check()
    ivy.get_by_label("Justification").fill(JUSTIFICATION)
    ivy.get_by_label("Probe photo").set_input_files(str(photo))
    warning = ivy.get_by_role("alert").filter(has_text="This photo is a crowd")
    expect(warning).to_contain_text("needs a supervisor's approval")
    look(visits, ivy, "crowd-picker")
    ivy.get_by_role("checkbox", name=re.compile("^I attest")).check()
    ivy.get_by_role("button", name="Search").click()
    ivy.wait_for_url(re.compile(r"/searches/\d+$"))
    expect(ivy.get_by_role("status").first).to_contain_text("it is a crowd probe")
    look(visits, ivy, "crowd-pending")

    sam = open_page(viewport=PHONE)
    sign_in(sam, web_world, "sam")
    sam.goto("/approvals")
    expect(sam.get_by_role("main")).to_contain_text("Crowd probe")
    look(visits, sam, "crowd-approvals")
