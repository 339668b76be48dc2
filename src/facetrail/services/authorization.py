"""Loads, inside an action's locked transaction, the facts that ``governance.authority``
decides on: the acting person as they are *now* (status and roles re-read, not the ones
remembered when their token was checked), and things of other agencies answered as not found.

Authorisation: this module is where ``unit_of_work.action`` asks; it refuses nothing by
itself except an actor whose account is no longer active (``AccountInactiveError``) or was
edited behind facetrail's back (``RecordMismatchError``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from sqlalchemy import (
    ColumnExpressionArgument,
    Integer,
    ScalarSelect,
    String,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountInactiveError,
    NotFoundError,
    RecordMismatchError,
)
from facetrail.governance.authority import Actor, Permission, may
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.fields import is_reserved_username
from facetrail.governance.records import latest_roles_change, roles_problem
from facetrail.governance.seal_checks import require_sealed
from facetrail.store.schema import Agency, User, UserRole

__all__ = [
    "AccountState",
    "RoleRead",
    "active_admins",
    "actor_of",
    "as_utc",
    "checked_roles",
    "current_actor",
    "inactive_reason",
    "name_of_agency",
    "role_columns",
    "roles_of",
    "utc_now",
    "visible_user",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every time facetrail stores is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class AccountState(Protocol):
    """What ``inactive_reason`` reads of an account: a ``User``, or a row of these columns."""

    @property
    def username(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def account_type(self) -> str: ...
    @property
    def trial_expires_at(self) -> datetime | None: ...


def inactive_reason(user: AccountState, now: datetime) -> AccountInactiveError | None:
    """Why this account cannot act now (requested, suspended, trial expired, or named as
    facetrail acts), or None."""
    if user.status != "active":
        return AccountInactiveError(f"account is {user.status}", subject=user.username)
    if is_reserved_username(user.username):
        # Made before the name was reserved: whatever it did would read as the service's own.
        return AccountInactiveError(
            "the username is one facetrail itself acts under; a system admin grants its "
            "owner an account under another name",
            subject=user.username,
        )
    expires = as_utc(user.trial_expires_at)
    if user.account_type == "trial" and expires is not None and expires <= now:
        return AccountInactiveError("trial expired", subject=user.username)
    return None


def name_of_agency(session: Session, agency_id: int) -> str:
    """The name of agency ``agency_id`` (the agency an audit event concerns)."""
    name = session.scalar(select(Agency.name).where(Agency.id == agency_id))
    if name is None:
        raise NotFoundError("no such agency", subject=str(agency_id))
    return name


def roles_of(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def current_actor(session: Session, principal: Principal, now: datetime | None = None) -> Actor:
    """The acting person as the database says now; refuses a suspended or expired account."""
    return actor_of(session, principal.user_id, principal.username, now)


def actor_of(session: Session, user_id: int, username: str, now: datetime | None = None) -> Actor:
    """Anyone as the database says now (``current_actor`` for someone who is not the one
    acting: a colleague asked to act); refuses a suspended or expired account."""
    row = session.execute(
        select(User, Agency.network_id)
        .join(Agency, Agency.id == User.agency_id)
        .where(User.id == user_id)
    ).first()
    if row is None:
        raise AccountInactiveError("account no longer exists", subject=username)
    user, network_id = row
    problem = inactive_reason(user, now or utc_now())
    if problem is not None:
        raise problem
    return Actor(user.id, user.agency_id, checked_roles(session, user), network_id)


class _Grant(NamedTuple):
    role: str
    audit_seq: int | None


class RoleRead(NamedTuple):
    """What ``checked_roles`` checks, as ``role_columns`` read it along with a person:
    their grants as text ("role:seq,role:seq", None for none) and the latest entry that
    changed their roles."""

    grants: str | None
    latest_change: int | None


def role_columns(
    user_id: ColumnExpressionArgument[int], username: ColumnExpressionArgument[str]
) -> tuple[ScalarSelect[str | None], ScalarSelect[int | None]]:
    """Two columns for a statement that reads a person (``user_id``, ``username``: its
    columns or bound parameters): their role grants and the latest change to them, so a
    hot path reads the person and their roles in one round trip (see ``RoleRead``)."""
    grant = UserRole.role + ":" + func.coalesce(cast(UserRole.audit_seq, String), "")
    grants = (
        select(func.aggregate_strings(grant, ","))
        .where(UserRole.user_id == user_id)
        .scalar_subquery()
    )
    return grants, latest_roles_change(username)


#: A person's roles alone (built once, with bound parameters: building a statement per
#: call costs more than running it).
_ROLES = select(
    *role_columns(bindparam("user_id", type_=Integer), bindparam("username", type_=String))
)


def checked_roles(session: Session, user: User, read: RoleRead | None = None) -> frozenset[str]:
    """The person's roles (``read``: as ``role_columns`` read them with the person, else read
    here); roles edited behind facetrail's back (disagreeing with the entry that granted them)
    are refused with ``RecordMismatchError``, never granted."""
    if read is None:
        found = session.execute(_ROLES, {"user_id": user.id, "username": user.username}).one()
        read = RoleRead(found[0], found[1])
    # Whoever acts, on every path: what authorises them (their account's status, agency and
    # roles, their agency) must be what the log sealed, or they are refused.
    # Both as this transaction read them (the agency from the session, when it holds it).
    agency = session.get(Agency, user.agency_id)
    require_sealed(
        session,
        f"the account of {user.username}",
        {"users": [user], "agencies": [agency if agency is not None else user.agency_id]},
    )
    subject = f"user_roles:{user.username}"
    rows = _grants(read.grants)
    if rows is None:
        raise RecordMismatchError("a role grant is unreadable", subject=subject)
    if tampered := roles_problem(session, user, rows, read.latest_change):
        raise RecordMismatchError(tampered, subject=subject)
    return frozenset(r.role for r in rows)


def _grants(text: str | None) -> list[_Grant] | None:
    """``RoleRead.grants`` as rows (None: a grant that is not "role:seq", edited in)."""
    rows = []
    for grant in text.split(",") if text else ():
        role, colon, seq = grant.rpartition(":")
        if not role or not colon or not (seq == "" or seq.isdigit()):
            return None
        rows.append(_Grant(role, int(seq) if seq else None))
    return rows


def active_admins(session: Session, *, excluding: int | None = None) -> int:
    """How many active system admins there are (besides ``excluding``)."""
    query = (
        select(func.count(User.id))
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.SYSTEM_ADMIN.value, User.status == "active")
    )
    if excluding is not None:
        query = query.where(User.id != excluding)
    return int(session.scalar(query) or 0)


def visible_user(session: Session, actor: Actor, username: str) -> User:
    """A user the actor may act on: of their own agency, or any for a system admin. Another
    agency's people answer as not found (saying "not your agency" would confirm they exist)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not (
        may(actor, Permission.ACT_ON_EVERY_AGENCY) or user.agency_id == actor.agency_id
    ):
        raise NotFoundError("no such user", subject=username)
    return user
