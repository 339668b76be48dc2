"""An agency's policy said in words, rule by rule, as pages and the command line show it:
"Searches a person may ask for in 24 hours: 20", each misuse alert rule as what it fires on
(``alerts.rule_in_words``), never a field name or a Python value."""

from __future__ import annotations

from typing import Any

from facetrail.governance.alerts import RULES, AlertRules, rule_in_words
from facetrail.governance.policy import ApprovalMode, Policy

__all__ = ["APPROVAL_LABELS", "RULE_LABELS", "rule_value_in_words", "rules_in_words"]

APPROVAL_LABELS = {
    ApprovalMode.NEVER.value: "Never: searches run at once",
    ApprovalMode.LISTED.value: "For the offenses ticked below",
    ApprovalMode.ALWAYS.value: "For every search",
}

RULE_LABELS = {
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
    "crowd_faces": "A probe photo is a crowd above this many searchable faces",
    "crowd_probes": "A crowd probe (a demonstration, an assembly) is",
    "protected_offenses": "Offenses close to protected activity (a second, named reason asked)",
}


def rule_value_in_words(field: str, value: Any) -> str:
    """One rule's value in words (a list joined, yes or no, the alert rules each said)."""
    if field == "low_quality_probes":
        return {"warn": "searched, with a warning", "refuse": "refused"}.get(str(value), str(value))
    if field == "crowd_probes":
        return {"approval": "held for a supervisor's approval", "refuse": "refused"}.get(
            str(value), str(value)
        )
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
    return [(RULE_LABELS[k], rule_value_in_words(k, v)) for k, v in policy.to_dict().items()]
