"""The values a source records, checked alike when it is added and when it is corrected:
its legal basis, the day its photos were collected (never in the future) and their retention."""

from __future__ import annotations

from datetime import date

from facetrail.errors import InvalidRequestError
from facetrail.governance import fields
from facetrail.services.authorization import utc_now

#: the longest retention a source may have (100 years)
MAX_RETENTION_DAYS = 36500


def check_legal_basis(text: str) -> str:
    return fields.check_free_text("legal basis", text, min_len=1)


def check_collection_date(text: str) -> str:
    """The day the photos were collected, as ISO 8601; not a date, or one in the future, is
    refused, in words."""
    try:
        collected = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidRequestError(
            f"the collection date {text!r} is not a date (YYYY-MM-DD)", subject="collected_at"
        ) from exc
    if collected > utc_now().date():
        raise InvalidRequestError(
            f"the collection date {collected.isoformat()} is in the future: give the day "
            "the photos were collected",
            subject="collected_at",
        )
    return collected.isoformat()


def check_retention(days: int) -> int:
    if days <= 0 or days > MAX_RETENTION_DAYS:
        raise InvalidRequestError(
            f"retention is a whole number of days from 1 to {MAX_RETENTION_DAYS}",
            subject="retention_days",
        )
    return days
