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
from facetrail.governance.alerts import RULES
from facetrail.governance.policy import Policy
from facetrail.governance.policy_words import RULE_LABELS
from facetrail.governance.policy_words import rule_value_in_words as said
from facetrail.services.oversight.policy import PolicyInfo
from facetrail.web.deps import text, texts

_NUMBERS = ("min_justification", "daily_limit", "probe_retention_days", "crowd_faces")

__all__ = ["PolicyForm", "PolicyVersionView", "versions_newest_first"]


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
                f"{RULE_LABELS[k]}: {said(k, previous[k])} → {said(k, v)}"
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
        raise InvalidRequestError(
            f"{RULE_LABELS[field]}: a whole number", subject=f"policy.{field}"
        )
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
    #: the most searchable faces in one probe photo before it is a crowd, and what a crowd
    #: probe gets (CROWD_PROBES)
    crowd_faces: str = "5"
    crowd_probes: str = "approval"
    #: the offenses marked as close to protected activity
    protected_offenses: tuple[str, ...] = ()

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
            str(policy.crowd_faces),
            policy.crowd_probes,
            policy.protected_offenses,
        )

    @classmethod
    def of_form(cls, form: FormData) -> PolicyForm:
        min_justification, daily_limit, retention, crowd_faces = (
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
            crowd_faces,
            text(form, "crowd_probes", max_length=20, default=""),
            tuple(texts(form, "protected_offenses")),
        )

    @classmethod
    def of_json(cls, sent: str) -> PolicyForm:
        """The form's values as they were shown (its hidden ``was`` field)."""
        try:
            body = json.loads(sent)
            min_justification, daily_limit, retention, crowd_faces = (
                str(body[f]) for f in _NUMBERS
            )
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
                crowd_faces,
                str(body["crowd_probes"]),
                tuple(str(o) for o in body["protected_offenses"]),
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
