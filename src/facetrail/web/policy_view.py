"""An agency's policy as its page shows it: each rule in words, each version with what it
changed and what it relaxed, and the amendment form (the fields a head most often changes),
whose changes are only the fields the person changed, so an amendment made meanwhile by
someone else is not undone. Presentation and parsing only: ``services.oversight.policy`` decides who
may read or change it, and checks the new version."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from starlette.datastructures import FormData

from facetrail.errors import InvalidRequestError
from facetrail.governance.alerts import RULES, AlertRules, rule_in_words
from facetrail.governance.policy import ApprovalMode, Policy
from facetrail.services.oversight.policy import PolicyInfo
from facetrail.web.deps import text, texts

__all__ = [
    "APPROVAL_LABELS",
    "PolicyForm",
    "PolicyVersionView",
    "rules_in_words",
    "versions_newest_first",
]

APPROVAL_LABELS = {
    ApprovalMode.NEVER.value: "Never: searches run at once",
    ApprovalMode.LISTED.value: "For the offenses ticked below",
    ApprovalMode.ALWAYS.value: "For every search",
}

_LABELS = {
    "offenses": "Offenses that may be searched for",
    "case_pattern": "Case number pattern",
    "min_justification": "Shortest justification (characters)",
    "galleries": "Galleries it may search",
    "approval": "Supervisor's approval before a search",
    "approval_offenses": "Offenses that need approval",
    "second_reviewer": "Second, blind reviewer of each candidate",
    "daily_limit": "Searches a person may ask for in 24 hours",
    "probe_retention_days": "Probe photos kept for (days)",
    "trial_days": "Trial accounts last (days)",
    "digest": "The head's digest of use goes out",
    "alerts": "Misuse alert rules",
    "likely_false_match_rate": "Candidates shown first as likely: false-match rate at most",
    "low_quality_probes": "A probe face too small, blurred or turned away is",
}
_NUMBERS = ("min_justification", "daily_limit", "probe_retention_days")


def _shown(field: str, value: Any) -> str:
    if field == "low_quality_probes":
        return {"warn": "searched, with a warning", "refuse": "refused"}.get(str(value), str(value))
    if field == "likely_false_match_rate":
        return f"1 in {round(1 / float(value)):,}"
    if field == "approval":
        return APPROVAL_LABELS.get(str(value), str(value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):  # the alert settings, each rule on in words
        rules = AlertRules.from_dict(value)
        on = [f"{rule.replace('_', ' ')}: {rule_in_words(rule, rules)}" for rule in RULES]
        on = [line for line, rule in zip(on, RULES, strict=True) if rules.enabled(rule)]
        off = ", ".join(r.replace("_", " ") for r in rules.disabled) or "none"
        return "An alert is raised when " + "; ".join(on) + f". Turned off: {off}."
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def rules_in_words(policy: Policy) -> list[tuple[str, str]]:
    """(rule, value) for every field of the policy, in words."""
    return [(_LABELS[k], _shown(k, v)) for k, v in policy.to_dict().items()]


@dataclass(frozen=True)
class PolicyVersionView:
    info: PolicyInfo
    #: "rule: before -> after" for each field this version changed
    changed: list[str]


def versions_newest_first(history: list[PolicyInfo]) -> list[PolicyVersionView]:
    views = []
    previous: dict[str, Any] | None = None
    for info in history:
        body = info.policy.to_dict()
        changed = (
            [
                f"{_LABELS[k]}: {_shown(k, previous[k])} → {_shown(k, v)}"
                for k, v in body.items()
                if v != previous[k]
            ]
            if previous is not None
            else []
        )
        views.append(PolicyVersionView(info, changed))
        previous = body
    return views[::-1]


def _number(field: str, typed: str) -> int:
    value = typed.strip()
    if not value.isdigit() or len(value) > 9:
        raise InvalidRequestError(f"{_LABELS[field]}: a whole number", subject=f"policy.{field}")
    return int(value)


@dataclass(frozen=True)
class PolicyForm:
    """The amendment form's fields, as typed (numbers as text, so a refusal shows them)."""

    galleries: tuple[str, ...]
    approval: str
    approval_offenses: tuple[str, ...]
    second_reviewer: bool
    min_justification: str
    daily_limit: str
    probe_retention_days: str
    #: DIGEST_SCHEDULES
    digest: str = "weekly"
    #: the misuse alert rules turned on (the others are the policy's ``alerts.disabled``)
    alerts_on: tuple[str, ...] = ()

    @classmethod
    def of_policy(cls, policy: Policy) -> PolicyForm:
        return cls(
            policy.galleries,
            policy.approval.value,
            policy.approval_offenses,
            policy.second_reviewer,
            str(policy.min_justification),
            str(policy.daily_limit),
            str(policy.probe_retention_days),
            policy.digest,
            tuple(rule for rule in RULES if policy.alerts.enabled(rule)),
        )

    @classmethod
    def of_form(cls, form: FormData) -> PolicyForm:
        min_justification, daily_limit, retention = (
            text(form, f, max_length=20, default="") for f in _NUMBERS
        )
        return cls(
            tuple(texts(form, "galleries")),
            text(form, "approval", max_length=20, default=""),
            tuple(texts(form, "approval_offenses")),
            text(form, "second_reviewer", max_length=5, default="") == "yes",
            min_justification,
            daily_limit,
            retention,
            text(form, "digest", max_length=20, default=""),
            tuple(texts(form, "alerts_on")),
        )

    @classmethod
    def of_json(cls, sent: str) -> PolicyForm:
        """The form's values as they were shown (its hidden ``was`` field)."""
        try:
            body = json.loads(sent)
            min_justification, daily_limit, retention = (str(body[f]) for f in _NUMBERS)
            return cls(
                tuple(str(g) for g in body["galleries"]),
                str(body["approval"]),
                tuple(str(o) for o in body["approval_offenses"]),
                bool(body["second_reviewer"]),
                min_justification,
                daily_limit,
                retention,
                str(body["digest"]),
                tuple(str(r) for r in body["alerts_on"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidRequestError(
                "the form was damaged: reload the page", subject="policy"
            ) from exc

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def changes(self, shown: PolicyForm) -> Mapping[str, object]:
        """The fields the person changed from what the form showed, as ``Policy`` takes them;
        none changed is refused."""
        now, was = asdict(self), asdict(shown)
        changed: dict[str, object] = {}
        for field, value in now.items():
            if field == "alerts_on":
                if set(value) != set(was[field]):
                    changed["alerts"] = {"disabled": [r for r in RULES if r not in value]}
            elif isinstance(value, tuple):
                if set(value) != set(was[field]):
                    changed[field] = list(value)
            elif field in _NUMBERS:
                if value.strip() != was[field]:
                    changed[field] = _number(field, value)
            elif value != was[field]:
                changed[field] = value
        if not changed:
            raise InvalidRequestError("change at least one rule", subject="policy")
        return changed
