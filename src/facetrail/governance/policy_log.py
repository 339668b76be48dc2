"""An agency's policy in force is the last one the log made: a newer version's row deleted
outside facetrail would otherwise put an older, laxer policy back in force unnoticed (each
older row still agrees with its own seal and entry)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from facetrail.store.schema import AuditEntryRow, PolicyVersion

__all__ = ["superseded_problem"]

#: A ``policy.change`` entry for the agency newer than the stored version's (built once).
_NEWER = (
    select(AuditEntryRow.seq)
    .where(
        AuditEntryRow.kind == "policy.change",
        AuditEntryRow.subject == bindparam("agency"),
        AuditEntryRow.seq > bindparam("seq"),
    )
    .limit(1)
)


def superseded_problem(session: Session, row: PolicyVersion, agency: str) -> str | None:
    """Why ``row`` (the newest version stored for ``agency``) is not the policy in force: the
    log made a newer one, whose row is gone. None when it is the newest the log made."""
    if row.audit_seq is None:
        return None  # refused as such by records.policy_problem
    newer = session.scalar(_NEWER, {"agency": agency, "seq": row.audit_seq})
    if newer is None:
        return None
    return (
        f"the policy the audit log's entry {newer} made for {agency} is missing (deleted "
        f"outside facetrail); version {row.version} is not in force"
    )
