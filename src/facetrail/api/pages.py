"""Cursor pagination: a list answers ``{"items": [...], "next_cursor": ...}``; the cursor is
opaque to clients (the id of the last item returned) and stable while items are added."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from facetrail.errors import InvalidRequestError
from facetrail.services.views import plain

__all__ = ["Cursor", "Limit", "page"]

T = TypeVar("T")
K = TypeVar("K", int, str)

Cursor = Annotated[str | None, Query(description="next_cursor of the previous page", max_length=40)]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]


def _decode(cursor: str) -> int | str:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError("not a cursor this API gave", subject="cursor") from exc
    if not isinstance(key, int | str) or isinstance(key, bool):
        raise InvalidRequestError("not a cursor this API gave", subject="cursor")
    return key


def _encode(key: int | str) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def page(
    items: Sequence[T], key: Callable[[T], K], cursor: str | None, limit: int
) -> dict[str, Any]:
    """One page of ``items`` (ordered by ``key`` ascending) after ``cursor``."""
    after = _decode(cursor) if cursor else None
    if after is not None and items and type(after) is not type(key(items[0])):
        raise InvalidRequestError("not a cursor of this list", subject="cursor")
    ordered = sorted(items, key=key)
    rest = [i for i in ordered if after is None or key(i) > after]  # type: ignore[operator]
    chosen = rest[:limit]
    more = len(rest) > limit
    return {
        "items": [plain(i) for i in chosen],
        "next_cursor": _encode(key(chosen[-1])) if more and chosen else None,
    }
