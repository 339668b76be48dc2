"""What the misuse alert rules (``governance.alerts``) weigh and what they find: an agency's
searches as its typed events record them, its trial accounts, and each finding, whose key is
its identity (an alert is raised once per key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Finding", "SearchFact", "TrialFact"]


@dataclass(frozen=True)
class SearchFact:
    """One search of the agency as its events record it."""

    search_id: int
    at: datetime
    #: who ran it (for a network's search: the operator)
    user: str
    case: str
    #: the face its probes show ("face:" names, ``services.oversight._alert_facts``) where
    #: the probe template is kept, else the probe files' SHA-256
    probes: tuple[str, ...]
    #: when it ran (None: not run: pending, denied or failed)
    ran_at: datetime | None = None
    reviewed: bool = False
    outcome: str | None = None
    #: the top candidate's gallery person and score, per gallery searched
    top_people: tuple[tuple[str, float], ...] = ()
    #: staff gallery people the probe matched
    staff_matches: tuple[str, ...] = ()
    #: the supervisor who approved it, if one did
    approver: str | None = None
    #: (first reviewer, second reviewer) of its candidates
    second_reviews: tuple[tuple[str, str], ...] = ()
    #: the probe files' SHA-256, whatever ``probes`` names
    files: tuple[str, ...] = ()
    #: the face chosen in the probe photo (None: its largest)
    face: int | None = None
    #: the faces fit to search counted in each probe, and whether that made it a crowd probe
    faces: tuple[int, ...] = ()
    crowd: bool = False
    offense: str = ""
    #: the offense was one the policy marks as close to protected activity
    protected: bool = False
    #: what the requester wrote for it: the justification and the second reason, if any
    grounds: str = ""


@dataclass(frozen=True)
class TrialFact:
    user: str
    expires_at: datetime


@dataclass(frozen=True)
class Finding:
    rule: str
    #: the finding's identity: an alert is raised once per key
    key: str
    summary: str
    user: str | None = None
    searches: tuple[int, ...] = field(default_factory=tuple)
