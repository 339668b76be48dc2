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
from tests.conftest import needs_lfw

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
