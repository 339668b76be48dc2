"""Every page at a phone's width (390 px) in a real browser: none scrolls sideways (a wide
table scrolls inside its own frame, which the keyboard reaches), and axe-core finds no
serious or critical violation on any of them. Seen failing on d795d42: axe found the
oversight page's table frame out of the keyboard's reach; measured there too,
/agency/searches was 637 px wide (a table's visually hidden text escaped its frame),
/agency/oversight 744 px (the digest's preformatted lines) and /reviews 416 px (its table had
no frame)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import Visits, search_by, sign_in

#: The same on either database: checked once, in the SQLite pass.
pytestmark = [needs_lfw, pytest.mark.one_backend]

PHONE = {"width": 390, "height": 844}

#: person -> the pages they open (each of their roles' pages, a search's result among them)
PAGES: dict[str, tuple[str, ...]] = {
    "head": (
        "/",
        "/agency/searches",
        "/agency/oversight",
        "/agency/people",
        "/agency/people/new",
        "/agency/people/ivy",
        "/agencies/county/domains",
        "/agencies",
        "/alerts",
        "/policy",
        "/audit",
        "/audit/verification",
        "/transparency",
        "/erasures",
        "/holds",
        "/approvals",
        "/reviews",
        "/inbox",
        "/cases",
        "/cases?case=2026-000690",
    ),
    "ivy": (
        "/",
        "/searches",
        "/searches/new",
        "/reviews",
        "/searches/{search}",
        "/account/tokens",
        "/nowhere",
    ),
    "gus": (
        "/",
        "/galleries",
        "/galleries/bookings",
        "/galleries/bookings/sources/county",
        "/galleries/bookings/photos",
        "/jobs",
        "/receipts",
    ),
}


def test_no_page_scrolls_sideways_on_a_phone(
    open_page: Any, web_world: World, visits: Visits
) -> None:
    search = search_by(web_world, "ivy", "2026-000690")
    wide: dict[str, int] = {}
    for person, paths in PAGES.items():
        page = open_page(PHONE)
        sign_in(page, web_world, person)
        for path in paths:
            page.goto(path.format(search=search))
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide[f"{person} {path}"] = width
            name = path.strip("/").replace("/", "-").replace("?case=", "-") or "home"
            visits.check(page, f"phone-{person}-{name}")
    assert wide == {}
