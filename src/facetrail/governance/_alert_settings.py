"""The settings of the misuse alert rules (``governance.alerts``): the rules' names and
``AlertRules``, each rule's thresholds and which rules an agency turned off, read from and
checked as part of the agency's policy, and versioned with it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from facetrail.errors import InvalidRequestError
from facetrail.store.vocabulary import ALERT_RULES

#: The rules' names, as policy and alerts call them: the values the store's ``alerts.rule``
#: column may hold (``store.vocabulary``), so the two cannot drift apart.
RULES: tuple[str, ...] = ALERT_RULES

#: Words whose forms in a search's offense, justification or second reason point to a
#: demonstration (the ``protected_activity`` rule, ``governance._protected_alerts``). Left out
#: on purpose: "march" (the month), "strike" (a blow), "occupation" (a job), "gathering"
#: (of evidence), whose everyday senses in a case file far outnumber the protest ones.
PROTECTED_WORDS: tuple[str, ...] = (
    "demonstration",
    "demonstrator",
    "protest",
    "rally",
    "rallies",
    "picket",
    "vigil",
    "sit-in",
    "assembly",
    "assemblies",
    "activist",
)

#: A word of ``protected_words``: 2..40 lower-case letters and hyphens.
_WORD = re.compile(r"[a-z][a-z-]{1,39}")

#: The settings that are lists (of rules, of words), not numbers.
_LISTS = ("disabled", "protected_words")


@dataclass(frozen=True)
class AlertRules:
    """Each rule's settings; ``disabled`` names rules the agency turned off. A policy
    version stored before a setting existed reads it as its default."""

    disabled: tuple[str, ...] = ()
    history_days: int = 30
    volume_min: int = 10
    volume_factor: float = 3.0
    hours_min_history: int = 20
    hours_share: float = 0.05
    case_max: int = 10
    person_cases: int = 2
    person_min_score: float = 0.5
    stale_days: int = 14
    trial_days_left: int = 7
    trial_searches: int = 10
    pairs_min: int = 6
    pairs_factor: float = 3.0
    photo_searches: int = 3
    protected_words: tuple[str, ...] = PROTECTED_WORDS

    def enabled(self, rule: str) -> bool:
        return rule not in self.disabled

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["disabled"] = list(self.disabled)
        body["protected_words"] = list(self.protected_words)
        return body

    @classmethod
    def from_dict(cls, body: Any) -> AlertRules:
        if not isinstance(body, dict):
            raise InvalidRequestError("alert rules must be an object", subject="policy.alerts")
        defaults = cls().to_dict()
        unknown = sorted(set(body) - set(defaults))
        if unknown:
            raise InvalidRequestError(
                f"unknown alert settings: {', '.join(unknown)}", subject="policy.alerts"
            )
        values = defaults | body
        for name in _LISTS:  # tuple("protest") would split a word into its letters
            if not isinstance(values[name], list | tuple):
                raise InvalidRequestError(f"{name} must be a list", subject=f"policy.alerts.{name}")
        try:
            rules = cls(
                disabled=tuple(str(r) for r in values["disabled"]),
                protected_words=tuple(str(w).strip().lower() for w in values["protected_words"]),
                **{
                    name: type(defaults[name])(values[name])
                    for name in defaults
                    if name not in _LISTS
                },
            )
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(
                f"alert rules are not valid: {exc}", subject="policy.alerts"
            ) from exc
        rules.validate()
        return rules

    def validate(self) -> None:
        stray = sorted(set(self.disabled) - set(RULES))
        if stray:
            raise InvalidRequestError(
                f"no such alert rule: {', '.join(stray)} (rules: {', '.join(RULES)})",
                subject="policy.alerts.disabled",
            )
        odd = [w for w in self.protected_words if not _WORD.fullmatch(w)]
        if odd:
            raise InvalidRequestError(
                f"alert words are 2..40 lower-case letters or hyphens, not: {', '.join(odd)}",
                subject="policy.alerts.protected_words",
            )
        counts = ["history_days", "volume_min", "hours_min_history", "case_max"]
        counts += ["person_cases", "stale_days", "trial_days_left", "trial_searches"]
        counts += ["pairs_min", "photo_searches"]
        for name in counts:
            if not 1 <= getattr(self, name) <= 100_000:
                raise InvalidRequestError(
                    f"{name} must be 1..100000", subject=f"policy.alerts.{name}"
                )
        if not 1.0 <= self.volume_factor <= 1000.0:
            raise InvalidRequestError(
                "volume_factor must be 1..1000", subject="policy.alerts.volume_factor"
            )
        if not 1.0 <= self.pairs_factor <= 1000.0:
            raise InvalidRequestError(
                "pairs_factor must be 1..1000", subject="policy.alerts.pairs_factor"
            )
        if not 0.0 < self.hours_share < 1.0:
            raise InvalidRequestError(
                "hours_share must be between 0 and 1", subject="policy.alerts.hours_share"
            )
        if not -1.0 <= self.person_min_score <= 1.0:
            raise InvalidRequestError(
                "person_min_score must be -1..1", subject="policy.alerts.person_min_score"
            )
