"""A list page's rows sorted, filtered and paged as its query asks (``sort``, ``order``, ``q``,
``page``), for the lists a service gives whole (people, jobs, galleries, erasures): short lists
of one agency or installation, read once per page view as the service audits them. The
template macros in ``_listing.html`` show the filter, the sortable headers and the pager."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

__all__ = ["Column", "Listing", "listing"]

T = TypeVar("T")

#: rows on one page of a list
PER_PAGE = 50


@dataclass(frozen=True)
class Column(Generic[T]):
    """A sortable column: its query key, its header, and the value a row sorts by."""

    key: str
    label: str
    value: Callable[[T], Any]


@dataclass(frozen=True)
class Listing(Generic[T]):
    rows: list[T]
    #: rows that pass the filter, on every page
    total: int
    #: rows before the filter
    everything: int
    page: int
    pages: int
    sort: str
    descending: bool
    q: str
    path: str
    columns: Sequence[Column[T]] = field(repr=False)
    #: the order the list has when the query names none (left out of its links)
    default: tuple[str, bool] = ("", False)
    #: the page's other query values (its own filters), kept in every link
    kept: tuple[tuple[str, str], ...] = ()

    def href(self, **changes: object) -> str:
        """This list's address with ``changes`` to its query (defaults left out)."""
        state: dict[str, object] = {
            "q": self.q,
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "page": self.page,
        }
        state.update(changes)
        if (state["sort"], state["order"] == "desc") == self.default:
            del state["sort"], state["order"]
        kept = [(k, str(v)) for k, v in self.kept] + [
            (k, str(v))
            for k, v in state.items()
            if v not in ("", None) and not (k == "page" and v == 1)
        ]
        return self.path + (f"?{urlencode(kept)}" if kept else "")

    def sort_href(self, key: str) -> str:
        """Sorted by ``key``: ascending, or the other way when it is already sorted by it."""
        flip = key == self.sort and not self.descending
        return self.href(sort=key, order="desc" if flip else "asc", page=1)

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"

    @property
    def links(self) -> dict[str, str]:
        """The pager's links: the previous page (the last there is, from beyond it) and the next."""
        found = {}
        if self.page > 1:
            found["Previous page"] = self.href(page=min(self.page - 1, self.pages))
        if self.page < self.pages:
            found["Next page"] = self.href(page=self.page + 1)
        return found


def listing(
    request: Request,
    items: Sequence[T],
    columns: Sequence[Column[T]],
    *,
    text: Callable[[T], str],
    sort: str,
    descending: bool = False,
    per_page: int = PER_PAGE,
) -> Listing[T]:
    """``items`` as the request's query asks: ``q`` keeps the rows whose ``text`` holds it
    (any case), ``sort`` names a column (else ``sort``), ``order`` is asc or desc, ``page``
    counts from 1. An unknown column or order falls back to the default, a page beyond the
    last shows no row and a link back."""
    query = request.query_params
    q = query.get("q", "")[:200].strip()
    by = {c.key: c for c in columns}
    key = query.get("sort", sort)
    if key not in by:
        key = sort
    order = query.get("order", "")
    down = descending if order not in ("asc", "desc") else order == "desc"
    if key != sort and order not in ("asc", "desc"):
        down = False
    raw_page = query.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and 0 < len(raw_page) < 8 else 1
    number = max(1, number)
    kept = [i for i in items if q.casefold() in text(i).casefold()] if q else list(items)
    column = by[key]
    kept.sort(key=lambda i: _sortable(column.value(i)), reverse=down)
    pages = max(1, -(-len(kept) // per_page))
    start = (number - 1) * per_page
    return Listing(
        kept[start : start + per_page],
        len(kept),
        len(items),
        number,
        pages,
        key,
        down,
        q,
        request.url.path,
        columns,
        (sort, descending),
        tuple((k, v) for k, v in query.multi_items() if k not in _OWN),
    )


#: the query values a listing reads itself
_OWN = frozenset({"q", "sort", "order", "page"})


def _sortable(value: Any) -> tuple[int, Any]:
    """None last in either order's reading (sorted as the smallest of its own kind); text
    without regard to case."""
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    return (1, value)
