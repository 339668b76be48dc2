"""Organisations, people and access: granted in the system, never claimed.

Authorisation: ``init_system`` only on an empty system; ``create_agency`` by a system admin;
``create_user`` by a system admin or the head of the same agency; ``approve_account`` by a
supervisor of the requester's agency who is not the requester; ``suspend_account`` by a
supervisor or head of the same agency (or a system admin). ``request_account``
needs no account. Audit: every action and every refusal is an entry (refusals in their own
transaction, since the refused action's transaction rolls back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountExistsError,
    AccountInactiveError,
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from facetrail.governance import credentials as cred
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.policy import Policy
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_head
from facetrail.store.schema import (
    Agency,
    Network,
    PolicyVersion,
    RecoveryCode,
    User,
    UserRole,
)

__all__ = ["Enrolment", "NewAccount", "Principal"]


@dataclass(frozen=True)
class Enrolment:
    """Shown once to the new user: TOTP secret (and QR URI) and recovery codes."""

    username: str
    status: str
    totp_secret: str
    totp_uri: str
    recovery_codes: list[str]


@dataclass(frozen=True)
class NewAccount:
    username: str
    email: str
    password: str
    agency: str
    roles: tuple[Role, ...] = (Role.INVESTIGATOR,)
    account_type: str = "full"
    #: for requests: the supervisor who must approve
    supervisor: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every time facetrail stores is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def refuse(
    ctx: AppContext,
    actor: str,
    kind: str,
    subject: str,
    error: FacetrailError,
    details: dict[str, object] | None = None,
) -> NoReturn:
    """Record a refused action (in its own transaction: the action's rolled back), then raise."""
    with ctx.transaction() as session:
        append(
            session,
            AuditEvent(
                actor,
                f"{kind}.refused",
                subject,
                {"code": error.code, "reason": str(error)} | (details or {}),
            ),
        )
    raise error


def require(ctx: AppContext, actor: Principal, kind: str, subject: str, *roles: Role) -> None:
    """Refuse (audited) unless ``actor`` holds one of ``roles``."""
    if not actor.has_any(*roles):
        names = " or ".join(r.value for r in roles)
        refuse(
            ctx,
            actor.username,
            kind,
            subject,
            PermissionDeniedError(f"needs {names}", subject=subject),
        )


def user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError("no such user", subject=username)
    return user


def agency_by_name(session: Session, name: str) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.name == name))
    if agency is None:
        raise NotFoundError("no such agency", subject=name)
    return agency


def _roles(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def _add_user(
    session: Session, account: NewAccount, agency: Agency, status: str, supervisor_id: int | None
) -> Enrolment:
    problem = cred.password_problem(account.password)
    if problem:
        raise InvalidRequestError(f"password {problem}", subject=account.username)
    if account.account_type not in ("trial", "full"):
        raise InvalidRequestError("account type must be trial or full", subject="account_type")
    if session.scalar(select(User.id).where(User.username == account.username)) is not None:
        raise AccountExistsError("username taken", subject=account.username)
    secret = cred.new_totp_secret()
    user = User(
        username=account.username,
        email=account.email,
        agency_id=agency.id,
        password_hash=cred.hash_password(account.password),
        totp_secret=secret,
        status=status,
        account_type=account.account_type,
        supervisor_id=supervisor_id,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    for role in account.roles:
        session.add(UserRole(user_id=user.id, role=Role(role).value))
    codes = cred.new_recovery_codes()
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=cred.secret_hash(code)))
    return Enrolment(user.username, status, secret, cred.totp_uri(secret, user.username), codes)


def init_system(ctx: AppContext, admin: NewAccount) -> Enrolment:
    """First start: the operators' agency and the first system admin. Only once."""
    from facetrail.services.audit import ensure_keys

    ensure_keys(ctx)
    with ctx.transaction() as session:
        if session.scalar(select(func.count(User.id))):
            raise AccountExistsError("facetrail is initialised already", subject="init")
        agency = Agency(name=admin.agency)
        session.add(agency)
        session.flush()
        _first_policy(session, agency.id, admin.username)
        enrolment = _add_user(
            session,
            NewAccount(
                admin.username, admin.email, admin.password, admin.agency, (Role.SYSTEM_ADMIN,)
            ),
            agency,
            "active",
            None,
        )
        append(
            session,
            AuditEvent(admin.username, "system.init", admin.agency, {"admin": admin.username}),
        )
    return enrolment


def _first_policy(session: Session, agency_id: int, actor: str, trial_days: int = 30) -> None:
    policy = Policy(trial_days=trial_days)
    policy.validate()
    session.add(
        PolicyVersion(
            agency_id=agency_id,
            version=1,
            body=policy.to_json(),
            changed_by=actor,
            reason="default policy of a new agency",
        )
    )


def create_network(ctx: AppContext, actor: Principal, name: str) -> None:
    require(ctx, actor, "network.create", name, Role.SYSTEM_ADMIN)
    with ctx.transaction() as session:
        if session.scalar(select(Network.id).where(Network.name == name)) is not None:
            raise AccountExistsError("network exists", subject=name)
        session.add(Network(name=name))
        append(session, AuditEvent(actor.username, "network.create", name))


def create_agency(
    ctx: AppContext,
    actor: Principal,
    name: str,
    trial_days: int = 30,
    network: str | None = None,
) -> None:
    """A new agency (optionally a member of a network) with the default policy, version 1."""
    require(ctx, actor, "agency.create", name, Role.SYSTEM_ADMIN)
    with ctx.transaction() as session:
        if session.scalar(select(Agency.id).where(Agency.name == name)) is not None:
            raise AccountExistsError("agency exists", subject=name)
        network_id = None
        if network is not None:
            network_id = session.scalar(select(Network.id).where(Network.name == network))
            if network_id is None:
                raise NotFoundError("no such network", subject=network)
        agency = Agency(name=name, network_id=network_id)
        session.add(agency)
        session.flush()
        _first_policy(session, agency.id, actor.username, trial_days)
        append(
            session,
            AuditEvent(
                actor.username,
                "agency.create",
                name,
                {"trial_days": trial_days, "network": network},
            ),
        )


def create_user(ctx: AppContext, actor: Principal, account: NewAccount) -> Enrolment:
    """An account granted directly by a system admin, or by the head of the same agency."""
    with ctx.transaction() as session:
        agency = agency_by_name(session, account.agency)
        allowed = actor.has(Role.SYSTEM_ADMIN) or (
            actor.has(Role.AGENCY_HEAD) and actor.agency_id == agency.id
        )
    if not allowed:
        refuse(
            ctx,
            actor.username,
            "account.create",
            account.username,
            PermissionDeniedError(
                "only a system admin or this agency's head grants accounts",
                subject=account.username,
            ),
        )
    with ctx.transaction() as session:
        agency = agency_by_name(session, account.agency)
        enrolment = _add_user(session, account, agency, "active", None)
        user = user_by_name(session, account.username)
        user.approved_by = actor.user_id
        if Role.AGENCY_HEAD in account.roles:
            agency.head_user_id = user.id
        roles = ", ".join(sorted(Role(r).value for r in account.roles))
        notify_head(
            session,
            agency.id,
            f"account granted: {account.username}",
            f"{actor.username} granted {account.username} the roles {roles}.",
        )
        append(
            session,
            AuditEvent(
                actor.username,
                "account.create",
                account.username,
                {"agency": agency.name, "roles": sorted(r.value for r in account.roles)},
            ),
        )
    deliver_outbox(ctx)
    return enrolment


def request_account(ctx: AppContext, account: NewAccount) -> Enrolment:
    """Anyone may ask; the account does nothing until the named supervisor approves it."""
    if not account.supervisor:
        raise InvalidRequestError("name the supervisor who must approve", subject="supervisor")
    with ctx.transaction() as session:
        agency = agency_by_name(session, account.agency)
        supervisor = user_by_name(session, account.supervisor)
        if supervisor.agency_id != agency.id or Role.SUPERVISOR.value not in _roles(
            session, supervisor.id
        ):
            raise InvalidRequestError(
                "the named supervisor is not a supervisor of this agency",
                subject=account.supervisor,
            )
        enrolment = _add_user(session, account, agency, "requested", supervisor.id)
        notify_head(
            session,
            agency.id,
            f"account request: {account.username}",
            f"{account.username} ({account.email}) asks for a {account.account_type} account "
            f"in {agency.name}, to be approved by {supervisor.username}.",
        )
        append(
            session,
            AuditEvent(
                account.username,
                "account.request",
                account.username,
                {
                    "agency": agency.name,
                    "supervisor": supervisor.username,
                    "account_type": account.account_type,
                    "roles": sorted(Role(r).value for r in account.roles),
                },
            ),
        )
    deliver_outbox(ctx)
    return enrolment


def approve_account(ctx: AppContext, actor: Principal, username: str) -> None:
    """The named supervisor (or another supervisor of the same agency) activates a request."""
    with ctx.transaction() as session:
        user = user_by_name(session, username)
        agency = session.get(Agency, user.agency_id)
        assert agency is not None
        problem: FacetrailError | None = None
        if actor.user_id == user.id:
            problem = PermissionDeniedError("no one approves their own account", subject=username)
        elif actor.agency_id != user.agency_id:
            problem = PermissionDeniedError(
                "approver is not in the requester's agency", subject=username
            )
        elif not actor.has(Role.SUPERVISOR):
            problem = PermissionDeniedError("only a supervisor approves accounts", subject=username)
        elif user.status != "requested":
            problem = InvalidRequestError(
                f"account is {user.status}, not requested", subject=username
            )
        trial_days = current_policy(session, agency.id)[1].trial_days
    if problem is not None:
        refuse(ctx, actor.username, "account.approve", username, problem)
    with ctx.transaction() as session:
        user = user_by_name(session, username)
        user.status = "active"
        user.approved_by = actor.user_id
        if user.account_type == "trial":
            user.trial_expires_at = utc_now() + timedelta(days=trial_days)
        notify_head(
            session,
            user.agency_id,
            f"account approved: {username}",
            f"{actor.username} approved the {user.account_type} account of {username}.",
        )
        append(
            session,
            AuditEvent(
                actor.username,
                "account.approve",
                username,
                {
                    "account_type": user.account_type,
                    "trial_expires_at": user.trial_expires_at.isoformat()
                    if user.trial_expires_at
                    else None,
                },
            ),
        )
    deliver_outbox(ctx)


def suspend_account(ctx: AppContext, actor: Principal, username: str, reason: str) -> None:
    """Immediate: the user's tokens stop working at their next use."""
    with ctx.transaction() as session:
        user = user_by_name(session, username)
        same = actor.agency_id == user.agency_id and (
            actor.has(Role.SUPERVISOR) or actor.has(Role.AGENCY_HEAD)
        )
    if not (same or actor.has(Role.SYSTEM_ADMIN)):
        refuse(
            ctx,
            actor.username,
            "account.suspend",
            username,
            PermissionDeniedError(
                "only a supervisor or head of the same agency suspends", subject=username
            ),
        )
    with ctx.transaction() as session:
        suspended = user_by_name(session, username)
        suspended.status = "suspended"
        notify_head(
            session,
            suspended.agency_id,
            f"account suspended: {username}",
            f"{actor.username} suspended {username}: {reason}",
        )
        append(session, AuditEvent(actor.username, "account.suspend", username, {"reason": reason}))
    deliver_outbox(ctx)


def inactive_reason(user: User, now: datetime) -> FacetrailError | None:
    """Why this account cannot act now (requested, suspended, trial expired), or None."""
    if user.status != "active":
        return AccountInactiveError(f"account is {user.status}", subject=user.username)
    expires = as_utc(user.trial_expires_at)
    if user.account_type == "trial" and expires is not None and expires <= now:
        return AccountInactiveError("trial expired", subject=user.username)
    return None


def set_roles(ctx: AppContext, actor: Principal, username: str, roles: tuple[Role, ...]) -> None:
    """Replace a user's roles: by a system admin, or the head of the user's agency; never
    one's own. The head is told."""
    if not roles:
        raise InvalidRequestError("give at least one role", subject="roles")
    with ctx.sessions() as session:
        user = user_by_name(session, username)
        problem: FacetrailError | None = None
        if actor.user_id == user.id:
            problem = PermissionDeniedError("no one changes their own roles", subject=username)
        elif not (
            actor.has(Role.SYSTEM_ADMIN)
            or (actor.has(Role.AGENCY_HEAD) and actor.agency_id == user.agency_id)
        ):
            problem = PermissionDeniedError(
                "only a system admin or this agency's head changes roles", subject=username
            )
    if problem is not None:
        refuse(ctx, actor.username, "account.roles", username, problem)
    with ctx.transaction() as session:
        user = user_by_name(session, username)
        before = sorted(_roles(session, user.id))
        after = sorted({Role(r).value for r in roles})
        session.execute(delete(UserRole).where(UserRole.user_id == user.id))
        for role in after:
            session.add(UserRole(user_id=user.id, role=role))
        agency = session.get(Agency, user.agency_id)
        assert agency is not None
        if Role.AGENCY_HEAD.value in after:
            agency.head_user_id = user.id
        notify_head(
            session,
            user.agency_id,
            f"roles changed: {username}",
            f"{actor.username} changed the roles of {username} from "
            f"{', '.join(before)} to {', '.join(after)}.",
        )
        append(
            session,
            AuditEvent(actor.username, "account.roles", username, {"from": before, "to": after}),
        )
    deliver_outbox(ctx)


def principal_of(session: Session, user: User) -> Principal:
    agency = session.get(Agency, user.agency_id)
    assert agency is not None
    return Principal(user.id, user.username, user.agency_id, agency.name, _roles(session, user.id))


def current_policy(session: Session, agency_id: int) -> tuple[int, Policy]:
    """(version, policy) in force for an agency."""
    row = session.execute(
        select(PolicyVersion.version, PolicyVersion.body)
        .where(PolicyVersion.agency_id == agency_id)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return 0, Policy()
    return row.version, Policy.from_json(row.body)
