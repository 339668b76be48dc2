"""The audit log as its pages show it: the filter form's values (kept as typed), the times it
takes turned into the ISO times the log keeps, an entry's details in words, and the link to
the next page. Presentation and parsing only: ``services.audit.audit_entries`` decides who reads
what."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from facetrail.errors import InvalidRequestError
from facetrail.services.audit.audit_entries import AuditEntryQuery

__all__ = ["PAGE_SIZE", "LogFilters", "details_text"]

#: Entries on one page of the log.
PAGE_SIZE = 50
_SHORT = 160


@dataclass(frozen=True)
class LogFilters:
    """What the filter form holds, as typed (times as the form sends them: UTC)."""

    actor: str = ""
    kind: str = ""
    subject: str = ""
    since: str = ""
    until: str = ""
    #: show the looks too (reads, lists, views, token uses): hidden unless asked for
    looks: bool = False

    @property
    def any(self) -> bool:
        return any(v for k, v in asdict(self).items() if k != "looks")

    def query(self, after: int = 0, before: int = 0, *, limit: int = PAGE_SIZE) -> AuditEntryQuery:
        """The service's query, newest first; a time that is not one is refused, naming its
        field."""
        return AuditEntryQuery(
            actor=self.actor.strip() or None,
            kind=self.kind.strip() or None,
            subject=self.subject.strip() or None,
            since=_moment(self.since, "since", end=False),
            until=_moment(self.until, "until", end=True),
            after=after,
            limit=limit,
            before=before,
            newest_first=True,
            hide_looks=not self.looks,
        )

    def href(self, *, after: int = 0, before: int = 0, path: str = "/audit") -> str:
        """This log with these filters: the newest entries, those after entry ``after`` or
        those before entry ``before``."""
        params = {k: v for k, v in asdict(self).items() if v and k != "looks"}
        if self.looks:
            params["looks"] = "1"
        if after:
            params["after"] = str(after)
        if before:
            params["before"] = str(before)
        return path + (f"?{urlencode(params)}" if params else "")


def _moment(typed: str, field: str, *, end: bool) -> str | None:
    """A date, or a date and time, in UTC as the log keeps times; ``end``: the last moment of
    what was typed (so "until 2026-11-05" keeps that whole day)."""
    text = typed.strip()
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequestError(
            f"'{text}' is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)",
            subject=field,
        ) from exc
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if end:
        if len(text) == len("2026-11-05"):
            at += timedelta(days=1, microseconds=-1)
        elif len(text) == len("2026-11-05T10:30"):
            at += timedelta(minutes=1, microseconds=-1)
    return at.isoformat(timespec="microseconds")


def details_text(details: dict[str, Any], *, short: bool = False) -> str:
    """An entry's details as "name: value" pairs; ``short``: cut for a table cell."""
    text = "; ".join(
        f"{key}: {value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"
        for key, value in details.items()
    )
    return text[: _SHORT - 1] + "…" if short and len(text) > _SHORT else text
