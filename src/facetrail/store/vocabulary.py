"""The values each status-like column may hold, and the CHECK constraint that holds it to them.

Services write only these; the database refuses anything else (``ck_<table>_<column>``). A new
value needs a migration that widens the constraint: a revision lists the values of its own
time, never these names, so that it means the same thing later.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint

__all__ = [
    "ACCOUNT_TYPES",
    "ALERT_RULES",
    "ALERT_STATUSES",
    "ERASURE_DECISIONS",
    "ERASURE_STATUSES",
    "HOLD_STATUSES",
    "JOB_KINDS",
    "JOB_STATUSES",
    "PROPOSAL_STATUSES",
    "REVIEW_DECISIONS",
    "REVIEW_STAGES",
    "ROLES",
    "SEARCH_FAULTS",
    "SEARCH_OUTCOMES",
    "SEARCH_STATUSES",
    "USER_STATUSES",
    "one_of",
]

USER_STATUSES = ("requested", "active", "suspended")
ACCOUNT_TYPES = ("trial", "full")
#: the values of governance.credentials.Role (the store does not import governance; a test
#: holds the two lists together)
ROLES = (
    "investigator",
    "supervisor",
    "agency_head",
    "auditor",
    "gallery_admin",
    "network_operator",
    "system_admin",
    "privacy_officer",
)
#: pending -> approved | denied; approved -> done | failed (a system fault goes back to approved)
SEARCH_STATUSES = ("pending", "approved", "denied", "failed", "done")
SEARCH_OUTCOMES = ("lead", "no_lead")
#: why a failed search failed: "system" does not count against the daily limit, "input" does
SEARCH_FAULTS = ("input", "system")
REVIEW_DECISIONS = ("possible_match", "not_a_match", "inconclusive")
#: 1: the first review of a candidate; 2: the independent second one
REVIEW_STAGES = (1, 2)
#: queued -> running -> done | failed | cancelled (a running job whose worker stopped is
#: taken up again by another)
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
JOB_KINDS = ("ingest",)
#: the misuse alert rules: ``governance.alerts.RULES`` is this tuple
ALERT_RULES = (
    "volume",
    "hours",
    "case_volume",
    "probe_cases",
    "person_cases",
    "open_cases",
    "stale",
    "staff_match",
    "trial",
    "pairs",
    "protected_activity",
)
#: a relaxation of an agency's oversight (its alert rules or approval needs), made by one
#: person and waiting for a second: pending -> confirmed (in force) | refused | withdrawn
PROPOSAL_STATUSES = ("pending", "confirmed", "refused", "withdrawn")
#: a legal hold on an image: pending (the agency head has not decided) -> released (the image
#: may go) | kept (it stays, the erasure or retention goes on without it)
HOLD_STATUSES = ("pending", "released", "kept")
#: open -> acknowledged -> closed, or open -> closed; each step with a note
ALERT_STATUSES = ("open", "acknowledged", "closed")


def sql_list(values: tuple[str, ...] | tuple[int, ...]) -> str:
    """``values`` as the inside of an SQL ``IN (...)``: plain words quoted, numbers as they are."""
    return ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)


def one_of(column: str, values: tuple[str, ...] | tuple[int, ...]) -> CheckConstraint:
    """A CHECK, named ``ck_<table>_<column>`` by the models' naming convention, that ``column``
    holds one of ``values`` (or NULL, where the column allows it)."""
    return CheckConstraint(f"{column} IN ({sql_list(values)})", name=column)


#: open -> done | cancelled
#: requested -> open (approved by a second person; its matches found) -> done | cancelled;
#: requested -> cancelled
ERASURE_STATUSES = ("requested", "open", "done", "cancelled")
#: a gallery face found for an erasure request, as the gallery admin called it
ERASURE_DECISIONS = ("confirmed", "rejected")
