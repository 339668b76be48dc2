"""Lists sorted, filtered and paged as the query asks (web/listing.py): the helper on its own,
and the people, jobs, galleries and erasures pages that use it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from facetrail.web.listing import Column, listing
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import search_by

Clients = Callable[[str], TestClient]


@dataclass(frozen=True)
class Row:
    name: str
    size: int | None


ROWS = [Row(f"item-{i:03d}", None if i % 10 == 0 else i % 7) for i in range(1, 121)]
COLUMNS = (Column("name", "Name", lambda r: r.name), Column("size", "Size", lambda r: r.size))


def _list(query: str, **kwargs: object):  # type: ignore[no-untyped-def]
    request = Request(
        {"type": "http", "path": "/things", "query_string": query.encode(), "headers": []}
    )
    return listing(request, ROWS, COLUMNS, text=lambda r: r.name, sort="name", **kwargs)  # type: ignore[arg-type]


@pytest.mark.database_free
def test_pages_sorting_and_the_filter() -> None:
    first = _list("")
    assert (first.total, first.pages, len(first.rows)) == (120, 3, 50)
    assert first.rows[0].name == "item-001" and first.links == {"Next page": "/things?page=2"}
    last = _list("page=3")
    assert [r.name for r in last.rows][-1] == "item-120"
    assert last.links == {"Previous page": "/things?page=2"}
    beyond = _list("page=9")
    assert beyond.rows == [] and beyond.links == {"Previous page": "/things?page=3"}
    down = _list("sort=name&order=desc")
    assert down.rows[0].name == "item-120" and down.aria_sort("name") == "descending"
    assert down.sort_href("name") == "/things"  # back to the default order
    by_size = _list("sort=size")
    sizes = [r.size for r in by_size.rows]
    assert sizes[:12] == [None] * 12 and sizes[12:] == sorted(sizes[12:])  # empty first
    found = _list("q=ITEM-11")
    assert [r.name for r in found.rows] == [f"item-{i}" for i in range(110, 120)]
    assert found.href(page=2) == "/things?q=ITEM-11&page=2"
    nonsense = _list("sort=%3Cscript%3E&order=sideways&page=-4")
    assert (nonsense.sort, nonsense.descending, nonsense.page) == ("name", False, 1)


@needs_lfw
def test_the_list_pages_sort_filter_and_say_so(client_of: Clients) -> None:
    head = client_of("head")
    people = head.get("/agency/people?sort=username&order=desc").text
    names = re.findall(r'<td><a href="/agency/people/[^"]+">([^<]+)</a></td>', people)
    assert names == sorted(names, reverse=True) and len(names) > 3
    assert 'aria-sort="descending"' in people
    ivy_only = head.get("/agency/people?q=ivy").text
    assert re.findall(r'<td><a href="/agency/people/[^"]+">([^<]+)</a></td>', ivy_only) == ["ivy"]
    assert "match “ivy”" in ivy_only
    gus = client_of("gus")
    none = gus.get("/galleries?q=no-such-gallery").text
    assert "0 of" in none and "Show every one" in none
    assert 'href="/galleries/bookings"' in gus.get("/galleries?q=BOOK").text
    assert gus.get("/jobs?sort=state&order=asc").status_code == 200
    assert gus.get("/erasures?q=nothing-like-this").status_code == 200


@pytest.mark.database_free
def test_a_pages_own_filters_are_kept_in_its_links() -> None:
    found = _list("status=open&q=item&page=2")
    assert found.links["Previous page"] == "/things?status=open&q=item"
    assert found.sort_href("size") == "/things?status=open&q=item&sort=size&order=asc"


@needs_lfw
def test_your_searches_and_the_alerts_filter_and_page(web_world: World, client_of: Clients) -> None:
    search_by(web_world, "ivy", "2026-000881")
    ivy = client_of("ivy")
    mine = ivy.get("/searches").text
    assert "Find your searches" in mine and 'aria-sort="descending"' in mine
    none = ivy.get("/searches?q=no-such-case-anywhere").text
    assert "0 of" in none
    assert "2026-000881" in ivy.get("/searches?q=000881").text
    head = client_of("head")
    shown = head.get("/alerts?status=open&q=zzz-nothing").text
    assert "No alerts match these filters." in shown
