"""Floods of refusals (issue 26): the same refusal asked for again and again (one actor, one
kind of action, one reason's code: a token sending searches past its rate limit, a script
guessing passwords) is one audit entry per minute with its count, not one per request, so that
no one can bury their own entries or fill the disk by being refused.

The first refusal of a minute is always recorded at once, as any refusal (``unit_of_work``'s
``record_refusal``); the ones that follow it within the minute are counted here, in this
process, with the subjects they named (the first ten) and the tokens they came with, and
written as one ``<kind>.refused`` entry with ``repeated`` (how many) once the minute is over:
by the next refusal of any kind, by the service's housekeeping, or when the process closes its
context. Each worker process counts its own: several workers write one entry a minute each.
A process killed before it wrote a minute's entry loses that minute's count (its first
refusal is in the log).

Whoever counts refusals adds up ``repeated`` (``refusals_in``), as the public report does for
the crowd probes it refused.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from facetrail.governance.audit import AuditEvent

__all__ = ["MINUTE", "Flood", "Floods", "refusals_in"]

#: How long one entry stands for the refusals repeated after it.
MINUTE = timedelta(minutes=1)
#: The most subjects a minute's entry names (the first ones).
SUBJECTS_KEPT = 10


@dataclass
class Flood:
    """One minute of the same refusal after its first, recorded, one."""

    actor: str
    kind: str
    code: str
    agency: str | None
    reason: str
    opened_at: datetime
    #: the first refusal's entry
    first_seq: int
    repeated: int = 0
    last_at: datetime | None = None
    subjects: dict[str, None] = field(default_factory=dict)
    tokens: Counter[str] = field(default_factory=Counter)

    def entry(self) -> AuditEvent:
        """The minute's one entry: what was refused how many times after ``first_seq``."""
        details: dict[str, Any] = {
            "code": self.code,
            "reason": self.reason,
            "repeated": self.repeated,
            "after": self.first_seq,
            "from": self.opened_at.isoformat(),
            "until": (self.last_at or self.opened_at).isoformat(),
            "subjects": list(self.subjects),
        }
        if self.tokens:
            details["tokens"] = dict(self.tokens)
        subject = f"{self.repeated} more like entry {self.first_seq}"
        return AuditEvent(self.actor, self.kind, subject, details, self.agency)


class Floods:
    """The open minute of each (actor, kind, code) in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], Flood] = {}

    def absorbed(
        self, actor: str, kind: str, code: str, subject: str, token: str | None, now: datetime
    ) -> bool:
        """Count this refusal in its key's open minute -> True; False: none is open (it is to
        be recorded at once, then ``opened``)."""
        with self._lock:
            flood = self._open.get((actor, kind, code))
            if flood is None or now - flood.opened_at >= MINUTE:
                return False
            flood.repeated += 1
            flood.last_at = now
            if len(flood.subjects) < SUBJECTS_KEPT:
                flood.subjects.setdefault(subject)
            if token is not None:
                flood.tokens[token] += 1
            return True

    def opened(self, flood: Flood) -> None:
        """A refusal recorded at once opens its key's minute (one still open with repeats was
        taken by ``due`` first)."""
        with self._lock:
            self._open[(flood.actor, flood.kind, flood.code)] = flood

    def due(self, now: datetime | None = None) -> list[Flood]:
        """The minutes over at ``now`` (all, when None), taken out: those with repeats, whose
        entries are now to be written."""
        with self._lock:
            over = [
                key
                for key, flood in self._open.items()
                if now is None or now - flood.opened_at >= MINUTE
            ]
            taken = [self._open.pop(key) for key in over]
        return [flood for flood in taken if flood.repeated]


def refusals_in(details: dict[str, Any]) -> int:
    """How many refusals one ``<kind>.refused`` entry stands for: itself, or a minute's."""
    repeated = details.get("repeated")
    return repeated if isinstance(repeated, int) and repeated > 0 else 1
