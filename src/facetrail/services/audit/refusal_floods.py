"""Floods of refusals (issue 26): the same refusal asked for again and again (one actor, one
kind of action, one reason's code: a token sending searches past its rate limit, a script
trying one route it may not use, an address guessing passwords) costs the log a bounded number
of entries a minute, not one per request, so that no one can bury their own entries or fill the
disk by being refused.

Within a minute of the first refusal of its key (actor, kind, code), a refusal is recorded at
once, as any refusal (``unit_of_work.record_refusal``), when it names a subject the minute has
not recorded yet and fewer than ``AT_ONCE`` were recorded at once: the first refusal is always
recorded at once, and so is each different thing a person is refused (another account, another
gallery), up to that bound. The others (the same subject again, or past the bound) are counted
here, in this process, with the subjects they named (the first ten) and the tokens they came
with, and written as one ``<kind>.refused`` entry with ``repeated`` (how many) once the minute
is over: by the next refusal of any kind, by the service's housekeeping, or when the process
closes its context. Each worker process counts its own: several workers write one entry a
minute each. A process killed before it wrote a minute's entry loses that minute's count (its
first refusals are in the log).

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

__all__ = ["AT_ONCE", "MINUTE", "SAME_AT_ONCE", "Flood", "Floods", "Refused", "refusals_in"]

#: How long one entry stands for the refusals repeated within it.
MINUTE = timedelta(minutes=1)
#: The most refusals of one key recorded at once in a minute.
AT_ONCE = 50
#: The most times one subject is refused at once in a minute (a person trying again).
SAME_AT_ONCE = 3
#: The most subjects a minute's entry names (the first ones).
SUBJECTS_KEPT = 10


@dataclass
class Flood:
    """One minute of one key's refusals: those recorded at once, and the repeats counted."""

    actor: str
    kind: str
    code: str
    agency: str | None
    reason: str
    opened_at: datetime
    #: the subjects recorded at once this minute, with how many times
    recorded: Counter[str] = field(default_factory=Counter)
    #: the first refusal's entry, once written
    first_seq: int | None = None
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
        # Named by the first subject it counts, as a refusal of that subject is (a case's
        # disclosure finds the refusals of its searches by their subject).
        subject = next(iter(self.subjects), "")
        return AuditEvent(self.actor, self.kind, subject, details, self.agency)


@dataclass(frozen=True)
class Refused:
    """One refusal as the flood counter sees it."""

    actor: str
    kind: str
    code: str
    subject: str
    reason: str
    agency: str | None
    token: str | None
    #: who is flooding, when not the actor (an address trying many names)
    source: str | None = None
    #: what was sent, whole (the subject and the details): the same refusal again sends the same
    sent: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source or self.actor, self.kind, self.code)


class Floods:
    """The open minute of each (actor, kind, code) in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], Flood] = {}
        #: minutes over, with repeats, replaced by a new one before their entry was written
        self._closed: list[Flood] = []

    def counted(self, refused: Refused, now: datetime) -> bool:
        """True: ``refused`` is counted in its key's open minute (no entry now); False: it is
        to be recorded at once (and then ``written``). A minute that is over is closed here
        (its entry is then among ``due``)."""
        with self._lock:
            flood = self._open.get(refused.key)
            if flood is None or now - flood.opened_at >= MINUTE:
                if flood is not None and flood.repeated:
                    self._closed.append(flood)
                self._open[refused.key] = Flood(
                    refused.actor,
                    refused.kind,
                    refused.code,
                    refused.agency,
                    refused.reason,
                    now,
                    Counter({refused.sent: 1}),
                )
                return False
            times = flood.recorded[refused.sent]
            if times < SAME_AT_ONCE and flood.recorded.total() < AT_ONCE:
                flood.recorded[refused.sent] += 1
                return False
            flood.repeated += 1
            flood.last_at = now
            if len(flood.subjects) < SUBJECTS_KEPT:
                flood.subjects.setdefault(refused.subject)
            if refused.token is not None:
                flood.tokens[refused.token] += 1
            return True

    def written(self, refused: Refused, seq: int) -> None:
        """``refused``, recorded at once, is entry ``seq``: the first of its minute names it."""
        with self._lock:
            flood = self._open.get(refused.key)
            if flood is not None and flood.first_seq is None:
                flood.first_seq = seq

    def due(self, now: datetime | None = None) -> list[Flood]:
        """The minutes over at ``now`` (all, when None) with repeats, taken out: their
        entries are now to be written."""
        with self._lock:
            over = [
                key
                for key, flood in self._open.items()
                if now is None or now - flood.opened_at >= MINUTE
            ]
            taken = self._closed + [self._open.pop(key) for key in over]
            self._closed.clear()
        return [flood for flood in taken if flood.repeated]


def refusals_in(details: dict[str, Any]) -> int:
    """How many refusals one ``<kind>.refused`` entry stands for: itself, or a minute's."""
    repeated = details.get("repeated")
    return repeated if isinstance(repeated, int) and repeated > 0 else 1
