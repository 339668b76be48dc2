"""An agency's policy in force is the last one the log made: a newer version's row deleted
outside facetrail would otherwise put an older, laxer policy back in force unnoticed (each
older row still agrees with its own seal and entry)."""

from __future__ import annotations

from sqlalchemy import ScalarSelect, bindparam, select
from sqlalchemy.orm import Session

from facetrail.governance._records_grants import UNREAD, Unread
from facetrail.store.schema import Agency, AuditEntryRow, PolicyVersion

__all__ = ["NEWER_POLICY_ENTRY", "superseded_problem"]

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


#: The same for the policy version a statement reads of the agency bound as ``agency_id`` (a
#: column beside it, so that the version and whether the log made a newer one are read in one
#: round trip).
NEWER_POLICY_ENTRY: ScalarSelect[int | None] = (
    select(AuditEntryRow.seq)
    .where(
        AuditEntryRow.kind == "policy.change",
        AuditEntryRow.subject
        == select(Agency.name).where(Agency.id == bindparam("agency_id")).scalar_subquery(),
        AuditEntryRow.seq > PolicyVersion.audit_seq,
    )
    .limit(1)
    .scalar_subquery()
)


def superseded_problem(
    session: Session, row: PolicyVersion, agency: str, newer: int | Unread | None = UNREAD
) -> str | None:
    """Why ``row`` (the newest version stored for ``agency``) is not the policy in force: the
    log made a newer one, whose row is gone. None when it is the newest the log made.
    ``newer``: ``NEWER_POLICY_ENTRY`` as read with the row (read here when not given)."""
    if row.audit_seq is None:
        return None  # refused as such by records.policy_problem
    if isinstance(newer, Unread):
        newer = session.scalar(_NEWER, {"agency": agency, "seq": row.audit_seq})
    if newer is None:
        return None
    return (
        f"the policy the audit log's entry {newer} made for {agency} is missing (deleted "
        f"outside facetrail); version {row.version} is not in force"
    )
