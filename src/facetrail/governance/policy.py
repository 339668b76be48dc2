"""Agency policy: what an agency's people may search for, how, and under whose eyes.

Pure values and checks; ``services.oversight.policy`` stores versions (every change audited, the
head notified) and ``services.searching.search`` applies them before any probe is processed.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from facetrail.errors import InvalidRequestError
from facetrail.governance.alerts import AlertRules

#: Serious offences for which a face search may be justified (the default allowed list).
DEFAULT_OFFENSES: tuple[str, ...] = (
    "homicide",
    "attempted-homicide",
    "sexual-assault",
    "child-sexual-exploitation",
    "kidnapping",
    "human-trafficking",
    "armed-robbery",
    "aggravated-assault",
    "carjacking",
    "arson",
    "terrorism",
    "missing-or-endangered-person",
)

#: Case numbers like "2026-000123" or "CR-26-0042" (letters, digits, dashes; 4..40 long).
DEFAULT_CASE_PATTERN = r"[A-Z0-9][A-Z0-9-]{3,39}"


#: How often an agency's head gets a digest of its use (``services.oversight.digests``).
DIGEST_SCHEDULES: tuple[str, ...] = ("daily", "weekly")


class ApprovalMode(StrEnum):
    NEVER = "never"
    LISTED = "listed"  # for the offense categories in ``approval_offenses``
    ALWAYS = "always"


#: What a probe too poor to search well gets: searched with a warning, or refused.
LOW_QUALITY_PROBES = ("warn", "refuse")

#: What a crowd probe (more searchable faces than ``crowd_faces``) gets: held for a
#: supervisor's approval, or refused.
CROWD_PROBES = ("approval", "refuse")


@dataclass(frozen=True)
class Policy:
    offenses: tuple[str, ...] = DEFAULT_OFFENSES
    case_pattern: str = DEFAULT_CASE_PATTERN
    min_justification: int = 30
    #: galleries the agency may search (none until someone grants them)
    galleries: tuple[str, ...] = ()
    approval: ApprovalMode = ApprovalMode.ALWAYS
    approval_offenses: tuple[str, ...] = ()
    second_reviewer: bool = True
    daily_limit: int = 20
    probe_retention_days: int = 365
    trial_days: int = 30
    #: how often the head gets a digest: DIGEST_SCHEDULES
    digest: str = "weekly"
    #: the misuse alert rules' settings (``governance.alerts``)
    alerts: AlertRules = field(default_factory=AlertRules)
    #: a candidate whose calibrated false-match rate is at most this is shown first, as
    #: likely; the others are folded as unlikely (never hidden: each may still be reviewed)
    likely_false_match_rate: float = 0.001
    #: a probe's face too poor to search well (``governance.probe_quality``): searched with a
    #: warning ("warn") or refused ("refuse")
    low_quality_probes: str = "warn"
    #: the most searchable faces a probe photo may hold; more makes it a crowd probe (a
    #: demonstration, an assembly): held for approval or refused, as ``crowd_probes`` says
    crowd_faces: int = 5
    crowd_probes: str = "approval"
    #: offense categories the agency marks as close to protected activity (unlawful assembly,
    #: obstruction, trespass at a public event): a search under one needs a second, named
    #: reason besides its justification, is counted apart in the public report and alerted on
    protected_offenses: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["approval"] = self.approval.value
        for key in ("offenses", "galleries", "approval_offenses", "protected_offenses"):
            body[key] = list(body[key])
        body["alerts"] = self.alerts.to_dict()
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Policy:
        known = set(cls().to_dict())
        unknown = sorted(set(body) - known)
        if unknown:
            raise InvalidRequestError(
                f"unknown policy fields: {', '.join(unknown)}", subject="policy"
            )
        values = cls().to_dict() | body
        try:
            policy = cls(
                offenses=tuple(str(o) for o in values["offenses"]),
                case_pattern=str(values["case_pattern"]),
                min_justification=int(values["min_justification"]),
                galleries=tuple(str(g) for g in values["galleries"]),
                approval=ApprovalMode(values["approval"]),
                approval_offenses=tuple(str(o) for o in values["approval_offenses"]),
                second_reviewer=_boolean(values["second_reviewer"]),
                daily_limit=int(values["daily_limit"]),
                probe_retention_days=int(values["probe_retention_days"]),
                trial_days=int(values["trial_days"]),
                digest=str(values["digest"]),
                alerts=AlertRules.from_dict(values["alerts"]),
                likely_false_match_rate=float(values["likely_false_match_rate"]),
                low_quality_probes=str(values["low_quality_probes"]),
                crowd_faces=int(values["crowd_faces"]),
                crowd_probes=str(values["crowd_probes"]),
                protected_offenses=tuple(str(o) for o in values["protected_offenses"]),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"policy is not valid: {exc}", subject="policy") from exc
        policy.validate()
        return policy

    @classmethod
    def from_json(cls, text: str) -> Policy:
        return _parse(text)

    def validate(self) -> None:
        def bad(message: str, subject: str) -> InvalidRequestError:
            return InvalidRequestError(message, subject=f"policy.{subject}")

        if not self.offenses:
            raise bad("at least one offense category is needed", "offenses")
        try:
            re.compile(self.case_pattern)
        except re.error as exc:
            raise bad(f"case number pattern does not compile: {exc}", "case_pattern") from exc
        if not 0 <= self.min_justification <= 2000:
            raise bad("minimum justification must be 0..2000 characters", "min_justification")
        stray = sorted(set(self.approval_offenses) - set(self.offenses))
        if stray:
            raise bad(f"not allowed offense categories: {', '.join(stray)}", "approval_offenses")
        stray = sorted(set(self.protected_offenses) - set(self.offenses))
        if stray:
            raise bad(f"not allowed offense categories: {', '.join(stray)}", "protected_offenses")
        if not 1 <= self.daily_limit <= 10_000:
            raise bad("daily limit must be 1..10000", "daily_limit")
        if not 1 <= self.probe_retention_days <= 36_500:
            raise bad("probe retention must be 1..36500 days", "probe_retention_days")
        if not 1 <= self.trial_days <= 365:
            raise bad("trials last 1..365 days", "trial_days")
        if not 1e-7 <= self.likely_false_match_rate <= 0.1:
            raise bad(
                "the likely candidates' false-match rate must be 1e-7..0.1 (1 in 10 million to "
                "1 in 10)",
                "likely_false_match_rate",
            )
        if self.low_quality_probes not in LOW_QUALITY_PROBES:
            raise bad(
                f"a poor probe is {' or '.join(repr(m) for m in LOW_QUALITY_PROBES)}-ed",
                "low_quality_probes",
            )
        if not 1 <= self.crowd_faces <= 50:
            raise bad("a crowd starts above 1..50 faces in one photo", "crowd_faces")
        if self.crowd_probes not in CROWD_PROBES:
            raise bad("a crowd probe is held for approval or refused", "crowd_probes")
        if self.digest not in DIGEST_SCHEDULES:
            raise bad(f"digests go out {' or '.join(DIGEST_SCHEDULES)}", "digest")
        self.alerts.validate()

    def needs_approval(self, offense: str) -> bool:
        return self.approval is ApprovalMode.ALWAYS or (
            self.approval is ApprovalMode.LISTED and offense in self.approval_offenses
        )


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "yes", "1"):
        return True
    if str(value).lower() in ("false", "no", "0"):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


_APPROVAL_STRICTNESS = {ApprovalMode.NEVER: 0, ApprovalMode.LISTED: 1, ApprovalMode.ALWAYS: 2}


def weakenings(old: Policy, new: Policy) -> list[str]:
    """What ``new`` allows that ``old`` did not: said plainly to the head and in the log."""
    said: list[str] = []
    added = sorted(set(new.offenses) - set(old.offenses))
    if added:
        said.append(f"offense categories added: {', '.join(added)}")
    if new.case_pattern != old.case_pattern:
        said.append(f"case number pattern changed: {old.case_pattern!r} -> {new.case_pattern!r}")
    if new.min_justification < old.min_justification:
        said.append(f"minimum justification lowered to {new.min_justification}")
    galleries = sorted(set(new.galleries) - set(old.galleries))
    if galleries:
        said.append(f"galleries added: {', '.join(galleries)}")
    if _APPROVAL_STRICTNESS[new.approval] < _APPROVAL_STRICTNESS[old.approval] or (
        new.approval is ApprovalMode.LISTED
        and old.approval is ApprovalMode.LISTED
        and set(old.approval_offenses) - set(new.approval_offenses)
    ):
        said.append(f"prior approval relaxed to {new.approval.value}")
    if old.second_reviewer and not new.second_reviewer:
        said.append("second reviewer no longer required")
    if new.daily_limit > old.daily_limit:
        said.append(f"daily limit raised to {new.daily_limit}")
    if new.probe_retention_days > old.probe_retention_days:
        said.append(f"probe retention lengthened to {new.probe_retention_days} days")
    if new.trial_days > old.trial_days:
        said.append(f"trials lengthened to {new.trial_days} days")
    if new.digest != old.digest and new.digest == "weekly":
        said.append("digests made weekly")
    if new.likely_false_match_rate > old.likely_false_match_rate:
        said.append(
            "candidates shown as likely up to a false-match rate of "
            f"{new.likely_false_match_rate:g}"
        )
    if old.low_quality_probes == "refuse" and new.low_quality_probes == "warn":
        said.append("probes too poor to search well are searched, with a warning")
    if new.crowd_faces > old.crowd_faces:
        said.append(f"crowd probes counted only above {new.crowd_faces} faces")
    if old.crowd_probes == "refuse" and new.crowd_probes == "approval":
        said.append("crowd probes held for approval instead of refused")
    unmarked = sorted(set(old.protected_offenses) & set(new.offenses) - set(new.protected_offenses))
    if unmarked:
        said.append(f"offense categories no longer marked as protected: {', '.join(unmarked)}")
    said += _alerts_weakened(old.alerts, new.alerts)
    return said


def oversight_weakenings(old: Policy, new: Policy) -> list[str]:
    """What ``new`` relaxes of the oversight of the agency's use: its alert rules and the
    approval and second review searches need, what makes a crowd probe and what it gets, and
    the offense categories marked as close to protected activity.
    Its head cannot do that alone: a second person
    outside the head's say-so confirms it first (``services.oversight.policy_proposals``)."""
    oversight = replace(
        old,
        approval=new.approval,
        approval_offenses=new.approval_offenses,
        second_reviewer=new.second_reviewer,
        alerts=new.alerts,
        crowd_faces=new.crowd_faces,
        crowd_probes=new.crowd_probes,
        protected_offenses=new.protected_offenses,
    )
    return weakenings(old, oversight)


#: Alert settings whose rise makes a rule fire less (+1) or more (-1) often.
_ALERT_LOOSER_WHEN = {
    "volume_min": 1,
    "volume_factor": 1,
    "hours_min_history": 1,
    "hours_share": -1,
    "case_max": 1,
    "person_cases": 1,
    "person_min_score": 1,
    "stale_days": 1,
    "trial_days_left": -1,
    "trial_searches": 1,
    "pairs_min": 1,
    "pairs_factor": 1,
    "photo_searches": 1,
}


def _alerts_weakened(old: AlertRules, new: AlertRules) -> list[str]:
    said: list[str] = []
    off = sorted(set(new.disabled) - set(old.disabled))
    if off:
        said.append(f"alert rules turned off: {', '.join(off)}")
    for name, direction in _ALERT_LOOSER_WHEN.items():
        before, after = getattr(old, name), getattr(new, name)
        if (after - before) * direction > 0:
            said.append(f"alert setting {name} loosened: {before} -> {after}")
    dropped = [w for w in old.protected_words if w not in new.protected_words]
    if dropped:
        said.append(f"alert words removed: {', '.join(dropped)}")
    if new.history_days != old.history_days:
        said.append(f"alert history changed: {old.history_days} -> {new.history_days} days")
    return said


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> Policy:
    """Stored policy versions are immutable: each body is parsed and validated once."""
    return Policy.from_dict(json.loads(text))
