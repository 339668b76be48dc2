"""Agencies' policy versions: each stored with the ``policy.change`` entry that made it, and
the one in force read back only as the log made it (``current_policy``)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    RecordMismatchError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.policy import Policy
from facetrail.governance.policy_log import NEWER_POLICY_ENTRY, superseded_problem
from facetrail.governance.records import policy_problem
from facetrail.store.schema import (
    Agency,
    PolicyVersion,
)

__all__ = [
    "current_policy",
    "first_policy",
    "policy_row_problem",
    "write_policy_version",
]


def first_policy(session: Session, agency_id: int, actor: str, trial_days: int = 30) -> None:
    policy = Policy(trial_days=trial_days)
    policy.validate()
    agency = session.get(Agency, agency_id)
    assert agency is not None
    write_policy_version(session, agency, 1, policy, actor, "default policy of a new agency", [])


def write_policy_version(
    session: Session,
    agency: Agency,
    version: int,
    policy: Policy,
    actor: str,
    reason: str,
    weakened: list[str],
) -> PolicyVersion:
    """Store a policy version and its ``policy.change`` entry, the row pointing at the entry
    so that the product can refuse a row edited behind its back (``current_policy``)."""
    row = PolicyVersion(
        agency_id=agency.id, version=version, body=policy.to_json(), changed_by=actor, reason=reason
    )
    session.add(row)
    entry = append(
        session,
        AuditEvent(
            actor,
            "policy.change",
            agency.name,
            {
                "version": version,
                "policy": policy.to_dict(),
                "weakened": weakened,
                "reason": reason,
            },
        ),
    )
    row.audit_seq = entry.seq
    session.flush()
    return row


#: An agency's latest policy version, and a newer ``policy.change`` entry if the log holds one
#: (built once, with a bound parameter).
_CURRENT_POLICY = (
    select(PolicyVersion, NEWER_POLICY_ENTRY)
    .where(PolicyVersion.agency_id == bindparam("agency_id"))
    .order_by(PolicyVersion.version.desc())
    .limit(1)
)


def current_policy(session: Session, agency_id: int) -> tuple[int, Policy]:
    """(version, policy) in force for an agency. A version whose row disagrees with the audit
    entry that made it (edited in the database), or that the log has made a newer one than
    (its row deleted), is refused: facetrail never acts on it."""
    found = session.execute(_CURRENT_POLICY, {"agency_id": agency_id}).first()
    if found is None:
        return 0, Policy()
    row, newer = found
    policy = Policy.from_json(row.body)
    problem = policy_row_problem(session, row, policy)
    if problem is None:
        agency = session.get(Agency, agency_id)
        problem = superseded_problem(session, row, agency.name if agency else "", newer)
    if problem is not None:
        raise RecordMismatchError(problem, subject=f"policy:{agency_id}:v{row.version}")
    return row.version, policy


def policy_row_problem(session: Session, row: PolicyVersion, policy: Policy) -> str | None:
    """Why a stored policy version disagrees with its audit entry (None: it agrees)."""
    del policy  # the row's own body is compared
    return policy_problem(session, row)
