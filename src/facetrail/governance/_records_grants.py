"""The record checks of what authorises an action: an agency's stored policy versions and
a person's stored roles, each held to the audit entry that made or granted it
(``governance.records``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import ColumnExpressionArgument, ScalarSelect, func, select
from sqlalchemy.orm import Session

from facetrail.governance._record_entries import agreed, entry_details, remember_agreed
from facetrail.governance.seal_checks import row_problem, rows_problems
from facetrail.store.schema import Agency, AuditEntryRow, PolicyVersion, User, UserRole

#: Entries that set a person's roles, and where each names the person and the roles.
GRANT_KINDS = ("system.init", "account.create", "account.request", "account.roles")


def grant_roles(entry: AuditEntryRow) -> tuple[str | None, set[str]]:
    """(the person an entry grants roles to, the roles) for a grant entry."""
    details = entry_details(entry)
    if entry.kind == "system.init":
        return details.get("admin"), {"system_admin"}
    if entry.kind == "account.roles":
        return entry.subject, set(details.get("to", []))
    return entry.subject, set(details.get("roles", []))


class Unread:
    """The type of ``UNREAD``: a value the caller did not read (None is a value read)."""


UNREAD = Unread()


def policy_problem(session: Session, row: PolicyVersion) -> str | None:
    """Why a stored policy version disagrees with the ``policy.change`` entry that made it."""
    if row.audit_seq is None:
        return "policy version has no audit entry"
    if sealed := row_problem(session, "agency_policies", row):  # as read: not read again
        return f"policy version: {sealed}"
    agency = session.get(Agency, row.agency_id)
    name = agency.name if agency is not None else None
    key = ("policy", row.id, row.agency_id, name, row.version, row.audit_seq, row.body)
    if agreed(key):
        return None
    entry = session.get(AuditEntryRow, row.audit_seq)
    if entry is None or agency is None:
        return "policy version's audit entry is missing"
    details = entry_details(entry)
    try:
        body = json.loads(row.body)
    except ValueError:
        return "policy version is unreadable"
    if (
        entry.kind != "policy.change"
        or entry.subject != agency.name
        or details.get("version") != row.version
        or details.get("policy") != body
    ):
        return "policy version differs from the audit entry that made it"
    remember_agreed(key)
    return None


def latest_roles_change(username: str | ColumnExpressionArgument[str]) -> ScalarSelect[int | None]:
    """The seq of the latest ``account.roles`` entry about ``username`` (a subquery, so that
    the roles and it are read in one statement)."""
    return (
        select(func.max(AuditEntryRow.seq))
        .where(AuditEntryRow.subject == username, AuditEntryRow.kind == "account.roles")
        .scalar_subquery()
    )


class RoleRow(Protocol):
    """A stored role grant as ``roles_problem`` reads it (a ``UserRole`` or a row of its
    columns)."""

    @property
    def role(self) -> str: ...

    @property
    def audit_seq(self) -> int | None: ...


def roles_problem(
    session: Session,
    user: User,
    rows: Sequence[RoleRow] | None = None,
    latest_change: int | Unread | None = UNREAD,
) -> str | None:
    """Why a person's stored roles (``rows``, read here when not given) disagree with the
    latest entry that set them. ``latest_change``: ``latest_roles_change`` read along with
    the rows (read here when not given)."""
    if rows is None:
        rows = list(session.scalars(select(UserRole).where(UserRole.user_id == user.id)))
    if sealed := rows_problems(session, "user_roles", [(user.id, r.role) for r in rows]):
        return f"role {next(iter(sealed))}: {next(iter(sealed.values()))}"
    if not rows:
        return None
    seqs = {r.audit_seq for r in rows}
    if len(seqs) != 1 or None in seqs:
        return "roles were not granted together by one audited action"
    (seq,) = seqs
    assert seq is not None
    key = ("roles", user.id, user.username, seq, frozenset(r.role for r in rows))
    if not agreed(key):
        entry = session.get(AuditEntryRow, seq)
        if entry is None or entry.kind not in GRANT_KINDS:
            return "the roles' audit entry is missing"
        who, roles = grant_roles(entry)
        if who != user.username or roles != {r.role for r in rows}:
            return "roles differ from the audit entry that granted them"
        remember_agreed(key)
    if isinstance(latest_change, Unread):
        latest_change = session.scalar(select(latest_roles_change(user.username)))
    if latest_change is not None and latest_change > seq:
        return f"roles were changed by entry {latest_change}, but the stored roles are older"
    return None
