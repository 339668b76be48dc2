"""The base of every typed audit event (``governance.events``): who did it, the agency it
concerns, how its subject is named, and how it becomes an audit entry and is read back from
one. The event classes themselves live in the ``_events_*`` modules beside this one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from facetrail.governance.audit import AuditEvent
from facetrail.store.schema import AuditEntryRow


@dataclass(frozen=True, kw_only=True)
class Event:
    """Who did it, the agency it concerns; set when read back: where and when it was logged."""

    kind: ClassVar[str]
    #: how the subject is written: ``prefix`` + the field ``subject_field`` (``search:12``)
    subject_prefix: ClassVar[str] = ""
    subject_field: ClassVar[str] = ""
    #: the few kinds whose details also held the agency before it had a column of its own
    agency_in_details: ClassVar[bool] = False

    actor: str
    agency: str | None
    seq: int = 0
    at: str = ""

    def subject(self) -> str:
        return f"{self.subject_prefix}{getattr(self, self.subject_field)}"

    def details(self) -> dict[str, Any]:
        skipped = {"actor", "agency", "seq", "at", self.subject_field}
        body = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skipped
        }
        if self.agency_in_details:
            body["agency"] = self.agency
        return body

    def entry(self) -> AuditEvent:
        """The audit entry to append for this event."""
        return AuditEvent(self.actor, self.kind, self.subject(), self.details(), self.agency)

    @classmethod
    def from_entry(cls, row: AuditEntryRow, details: dict[str, Any]) -> Self:
        """This event as the entry ``row`` (whose details are ``details``) records it; fields
        an older entry lacks take their defaults."""
        values: dict[str, Any] = {"actor": row.actor, "agency": row.agency}
        values |= {"seq": row.seq, "at": row.at}
        raw = row.subject.removeprefix(cls.subject_prefix)
        for f in dataclasses.fields(cls):
            if f.name in values:
                continue
            if f.name == cls.subject_field:
                values[f.name] = int(raw) if f.type in ("int", int) else raw
            elif f.name in details:
                values[f.name] = details[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                values[f.name] = None
        return cls(**values)
