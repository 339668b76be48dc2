"""Every page at a phone's width (390 px) in a real browser: none scrolls sideways (a wide
table scrolls inside its own frame, which the keyboard reaches), and axe-core finds no
serious or critical violation on any of them. Seen failing on d795d42: axe found the
oversight page's table frame out of the keyboard's reach; measured there too,
/agency/searches was 637 px wide (a table's visually hidden text escaped its frame),
/agency/oversight 744 px (the digest's preformatted lines) and /reviews 416 px (its table had
no frame)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from facetrail.reference import web_pages
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import Visits, search_by, sign_in

#: The same on either database: checked once, in the SQLite pass.
pytestmark = [needs_lfw, pytest.mark.one_backend]

PHONE = {"width": 390, "height": 844}

#: person -> the pages they open (each of their roles' pages, a search's result among them;
#: "": someone not signed in)
PAGES: dict[str, tuple[str, ...]] = {
    "": ("/signin", "/enrol", "/account/password", "/transparency", "/receipts"),
    "head": (
        "/",
        "/agency/searches",
        "/agency/oversight",
        "/agency/people",
        "/agency/people/new",
        "/agency/people/ivy",
        "/agency/people/ivy/access",
        "/agencies/county/domains",
        "/agencies",
        "/alerts",
        "/policy",
        "/audit",
        "/audit/verification",
        "/audit/entries/1",
        "/agencies/county/policy",
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
        if person:
            sign_in(page, web_world, person)
        for path in paths:
            page.goto(path.format(search=search))
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide[f"{person} {path}"] = width
            name = path.strip("/").replace("/", "-").replace("?case=", "-") or "home"
            visits.check(page, f"phone-{person or 'public'}-{name}")
    assert wide == {}


#: the web app's GET routes not opened above, and where they are checked instead (or why
#: they are no page)
ELSEWHERE = {
    "/audit.csv": "a download (CSV), not a page",
    "/cases/disclosure": "a download (JSON), not a page",
    "/cases/disclosure.pdf": "a download (PDF), not a page",
    "/erasures/{erasure_id}": "at 390 px in test_browser_days.py (the gallery admin's day)",
    "/erasures/{erasure_id}/matches/{match_id}/crop": "an image",
    "/erasures/{erasure_id}/photos/{number}": "an image",
    "/erasures/{erasure_id}/receipt": "a download (text), not a page",
    "/jobs/{job_id}": "in test_browser_oversight.py, at a tablet's width, while the job runs",
    "/searches/{search_id}/probes/{probe_index}/crop": "an image",
    "/static/{name}": "the pages' style sheet and script",
}


def test_every_page_is_opened_here_or_says_where_it_is_checked() -> None:
    """A page added to the web app is opened above, or named in ELSEWHERE with the reason."""
    visited = [p.split("?")[0] for paths in PAGES.values() for p in paths]
    routes = {p.path for p in web_pages() if p.method == "GET"}
    assert set(ELSEWHERE) <= routes, "ELSEWHERE names a route that does not exist"
    missing = []
    for route in sorted(routes - set(ELSEWHERE)):
        shape = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(route)) + "$")
        if not any(shape.match(path) for path in visited):
            missing.append(route)
    assert missing == []
