"""Organisations, people and access: granted in the system, never claimed.

Authorisation: ``init_system`` only on an empty system; ``create_agency`` by a system admin;
``create_user`` by a system admin or the head of the same agency; ``suspend_account`` by a
supervisor or head of the same agency (or a system admin). ``request_account`` needs no
account (approving one: ``services.account_approval``). An account's e-mail is on a domain
its agency registered (``services.agency_domains``). Audit: every action and every refusal is
an entry (refusals in their own transaction, since the refused action's transaction rolls
back).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountExistsError,
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RecordMismatchError,
)
from facetrail.governance import credentials as cred
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    AGENCY_ROLES,
    Actor,
    Permission,
    may,
    may_grant,
    may_suspend,
    needed_roles,
    role_change_problem,
)
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.events import (
    AccountCreated,
    AccountRequested,
    AccountSuspended,
    AgencyCreated,
)
from facetrail.governance.policy import Policy
from facetrail.governance.policy_log import superseded_problem
from facetrail.governance.records import policy_problem
from facetrail.services.agency_domains import check_account_email
from facetrail.services.authorization import (
    RoleRead,
    active_admins,
    as_utc,
    checked_roles,
    current_actor,
    inactive_reason,
    name_of_agency,
    roles_of,
    utc_now,
    visible_user,
)
from facetrail.services.context import AppContext
from facetrail.services.notifications import (
    deliver_outbox,
    mail_privately,
    notify_head,
    notify_users,
)
from facetrail.services.unit_of_work import action, loggable, refuse
from facetrail.store.schema import (
    Agency,
    AuditEntryRow,
    Network,
    PolicyVersion,
    User,
    UserRole,
)

__all__ = [
    "ENROL_CODE_LIFETIME",
    "Enrolment",
    "NewAccount",
    "Principal",
    "as_utc",
    "checked_account",
    "inactive_reason",
    "refuse",
    "send_enrol_code",
    "utc_now",
]


@dataclass(frozen=True)
class Enrolment:
    """A new account, and its second factor when its owner is the one shown it: the TOTP
    secret (and QR URI) and recovery codes, shown once. An account granted or requested
    through someone else has none (``totp_secret`` None): no one but its owner ever sees the
    secret, which they enrol at their first sign-in (``services.enrolment``)."""

    username: str
    status: str
    totp_secret: str | None = None
    totp_uri: str | None = None
    recovery_codes: tuple[str, ...] = ()


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


def checked_account(account: NewAccount) -> NewAccount:
    """The account with its username, e-mail and agency in their stored form
    (``governance.fields``); ``InvalidFieldError`` names the field that breaks its rules."""
    return replace(
        account,
        username=fields.check_username(account.username),
        email=fields.check_email(account.email),
        agency=fields.check_name("agency", account.agency),
    )


def _add_user(
    session: Session,
    account: NewAccount,
    agency: Agency,
    status: str,
    supervisor_id: int | None,
    *,
    password_hash: str | None = None,
) -> Enrolment:
    """``password_hash``: the password's, made already (by a request, before it looked at
    anything that exists)."""
    account = checked_account(account)
    problem = cred.password_problem(account.password)
    if problem:
        raise InvalidRequestError(f"password {problem}", subject=account.username)
    if account.account_type not in ("trial", "full"):
        raise InvalidRequestError("account type must be trial or full", subject="account_type")
    if session.scalar(select(User.id).where(User.username == account.username)) is not None:
        raise AccountExistsError("username taken", subject=account.username)
    user = User(
        username=account.username,
        email=account.email,
        agency_id=agency.id,
        password_hash=password_hash or cred.hash_password(account.password),
        totp_secret=None,  # enrolled by its owner at first sign-in
        status=status,
        account_type=account.account_type,
        supervisor_id=supervisor_id,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    for role in account.roles:
        session.add(UserRole(user_id=user.id, role=Role(role).value))
    return Enrolment(user.username, status)


#: How long a mailed enrolment code works.
ENROL_CODE_LIFETIME = timedelta(days=7)


def send_enrol_code(session: Session, user: User, by: str, why: str) -> None:
    """A one-time enrolment code, mailed to ``user`` alone and stored only as a hash: whoever
    set up their account (or reset their second factor) knows the password they gave, but
    cannot enrol a second factor in their name without this code (``begin_enrolment``)."""
    code = "-".join(secrets.token_hex(3).upper() for _ in range(4))
    expires = utc_now() + ENROL_CODE_LIFETIME
    user.enrol_code_hash = cred.secret_hash(code)
    user.enrol_code_expires_at = expires
    mail_privately(
        session,
        user,
        f"your enrolment code for {user.username}",
        f"{by} {why} your facetrail account {user.username}.\n\n"
        f"Enrol your second factor yourself with this one-time code:\n\n"
        f"    facetrail enrol {user.username} --invite {code}\n\n"
        f"It works once, until {expires:%Y-%m-%d %H:%M} UTC. No one else has been shown it. "
        "If you did not expect this mail, tell your agency's head.",
    )


def init_system(ctx: AppContext, admin: NewAccount) -> Enrolment:
    """First start: the operators' agency and the first system admin. Only once. The admin
    is the person running it, so their second factor is enrolled here and shown to them."""
    from facetrail.services.audit import ensure_keys
    from facetrail.services.enrolment import issue_second_factor

    admin = checked_account(admin)
    ensure_keys(ctx)
    totp_key = cred.load_secrets_key(ctx.settings.totp_key_file, create=True)
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
        enrolment = issue_second_factor(
            session, user_by_name(session, admin.username), totp_key, confirmed=True
        )
        entry = append(
            session,
            AuditEvent(admin.username, "system.init", admin.agency, {"admin": admin.username}),
        )
        seal_roles(session, enrolment_user_id(session, admin.username), entry.seq)
    return enrolment


def enrolment_user_id(session: Session, username: str) -> int:
    return user_by_name(session, username).id


def seal_roles(session: Session, user_id: int, seq: int) -> None:
    """Point a person's role rows at the entry that granted them (``governance.records``)."""
    session.flush()
    session.execute(update(UserRole).where(UserRole.user_id == user_id).values(audit_seq=seq))


def _first_policy(session: Session, agency_id: int, actor: str, trial_days: int = 30) -> None:
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


def create_network(ctx: AppContext, actor: Principal, name: str) -> None:
    """A new network of agencies: by a system admin. Audited, refusals too."""
    with action(ctx, actor.username, "network.create", name) as session:
        name = fields.check_name("network", name)
        if not may(current_actor(session, actor), Permission.MANAGE_ORGANISATION):
            raise PermissionDeniedError(needed_roles(Permission.MANAGE_ORGANISATION), subject=name)
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
    """A new agency (optionally a member of a network) with the default policy, version 1:
    by a system admin. Audited, refusals too."""
    with action(ctx, actor.username, "agency.create", name) as session:
        name = fields.check_name("agency", name)
        if not may(current_actor(session, actor), Permission.MANAGE_ORGANISATION):
            raise PermissionDeniedError(needed_roles(Permission.MANAGE_ORGANISATION), subject=name)
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
            AgencyCreated(
                actor=actor.username,
                agency=name,
                name=name,
                trial_days=trial_days,
                network=network,
            ).entry(),
        )


def _visible_agency(session: Session, actor: Actor, name: str) -> Agency:
    """An agency the actor acts in: their own, or any for a system admin (others: not found)."""
    agency = session.scalar(select(Agency).where(Agency.name == name))
    if agency is None or not (
        may(actor, Permission.ACT_ON_EVERY_AGENCY) or agency.id == actor.agency_id
    ):
        raise NotFoundError("no such agency", subject=name)
    return agency


def create_user(ctx: AppContext, actor: Principal, account: NewAccount) -> Enrolment:
    """An account granted directly by a system admin (any role, any agency), or by the head
    of the same agency (agency roles only: ``governance.authority.may_grant``). The head is
    told. Audited, refusals too."""
    with action(ctx, actor.username, "account.create", account.username) as session:
        account = checked_account(account)
        who = current_actor(session, actor)
        agency = _visible_agency(session, who, account.agency)
        if not account.roles:
            raise InvalidRequestError("give at least one role", subject="roles")
        for role in sorted({Role(r) for r in account.roles}):
            if not may_grant(who, role, agency.id):
                raise PermissionDeniedError(
                    f"you may not grant the {role.value} role in {agency.name}",
                    subject=account.username,
                )
        check_account_email(session, agency, account.email, requested=False)
        enrolment = _add_user(session, account, agency, "active", None)
        user = user_by_name(session, account.username)
        user.approved_by = actor.user_id
        send_enrol_code(session, user, actor.username, "set up")
        roles = ", ".join(sorted(Role(r).value for r in account.roles))
        notify_head(
            session,
            agency.id,
            f"account granted: {account.username}",
            f"{actor.username} granted {account.username} the roles {roles}.",
        )
        created = AccountCreated(
            actor=actor.username,
            agency=agency.name,
            username=account.username,
            roles=sorted(Role(r).value for r in account.roles),
        )
        entry = append(session, created.entry())
        seal_roles(session, user.id, entry.seq)
    deliver_outbox(ctx)
    return enrolment


#: What an unauthenticated request may ask for: agency roles below the head. A supervisor
#: approves an investigator; any other requested role needs an approver who may grant it.
REQUESTABLE_ROLES = AGENCY_ROLES - {Role.AGENCY_HEAD}
#: Open requests one agency accepts before refusing more (no flooding of inboxes): pending
#: accounts, and the requests declined in the last ``DECLINED_COUNT_FOR`` (which flood the
#: head's inbox as much, and must count alike, or the limit would tell them apart).
MAX_PENDING_REQUESTS = 20
DECLINED_COUNT_FOR = timedelta(days=1)
#: Requests accepted per agency per hour (passed on or declined alike).
MAX_REQUESTS_PER_HOUR = 10


def request_account(ctx: AppContext, account: NewAccount) -> Enrolment:
    """Anyone may ask (as an investigator), from an e-mail address on a domain the agency
    registered (an agency with none takes no requests); the account does nothing until the
    agency's head, or two of its supervisors, approve it (``services.account_approval``). The
    named supervisor and the head are told. Requests are rate-limited per agency.

    The answer is the same whether or not the username is free and the named supervisor is an
    active supervisor of the agency, and takes as long (the password is hashed either way): a
    request is no way to learn who works where, or which usernames exist. A request that
    cannot be passed on is declined quietly: the agency's head is told why, and the log keeps
    it (``account.request.refused``). What the request itself gets wrong (a malformed or
    reserved field, a weak password, a role it cannot ask for, an agency that does not exist:
    agencies are public) is refused as such. Audited, refusals too."""
    # Hashed whatever the request turns out to be (so every answer takes as long), and before
    # the write lock is taken.
    weak = cred.password_problem(account.password)
    password_hash = None if weak else cred.hash_password(account.password)
    with action(ctx, account.username, "account.request", account.username) as session:
        account = checked_account(account)
        if not account.supervisor:
            raise InvalidRequestError("name the supervisor who must approve", subject="supervisor")
        if extra := sorted({Role(r) for r in account.roles} - REQUESTABLE_ROLES):
            raise PermissionDeniedError(
                f"a request cannot ask for the {extra[0].value} role; the agency's head "
                "grants it after approval",
                subject=account.username,
            )
        if password_hash is None:
            raise InvalidRequestError(f"password {weak}", subject=account.username)
        agency = agency_by_name(session, account.agency)
        check_account_email(session, agency, account.email, requested=True)
        _check_request_rate(session, agency)
        supervisor = _named_supervisor(session, account.supervisor, agency.id)
        taken = session.scalar(select(User.id).where(User.username == account.username))
        if supervisor is None:
            named = loggable(account.supervisor)
            why = f"{named} is not an active supervisor of {agency.name}"
            _decline_request(session, account, agency, why)
        elif taken is not None:
            _decline_request(session, account, agency, "the username is taken")
        else:
            _pass_on_request(session, account, agency, supervisor, password_hash)
    deliver_outbox(ctx)
    return Enrolment(account.username, "requested")


def _named_supervisor(session: Session, username: str, agency_id: int) -> User | None:
    """The named person, if an active supervisor of the agency."""
    try:
        username = fields.check_username(username)
    except FacetrailError:
        return None  # names no account (and is never sent to the database as it is)
    found = session.scalar(select(User).where(User.username == username))
    if (
        found is None
        or found.agency_id != agency_id
        or found.status != "active"
        or Role.SUPERVISOR.value not in roles_of(session, found.id)
    ):
        return None
    return found


def _pass_on_request(
    session: Session, account: NewAccount, agency: Agency, supervisor: User, password_hash: str
) -> None:
    _add_user(session, account, agency, "requested", supervisor.id, password_hash=password_hash)
    text = (
        f"{account.username} ({account.email}) asks for a {account.account_type} account "
        f"in {agency.name}, to be approved by {supervisor.username}."
    )
    notify_users(session, [supervisor.id], f"account request: {account.username}", text)
    notify_head(session, agency.id, f"account request: {account.username}", text)
    requested = AccountRequested(
        actor=account.username,
        agency=agency.name,
        username=account.username,
        supervisor=supervisor.username,
        account_type=account.account_type,
        roles=sorted(Role(r).value for r in account.roles),
    )
    entry = append(session, requested.entry())
    seal_roles(session, enrolment_user_id(session, account.username), entry.seq)


def _decline_request(session: Session, account: NewAccount, agency: Agency, why: str) -> None:
    """Record and tell the head why a request was not passed on; its sender is answered as
    if it had been."""
    named = loggable(account.supervisor or "")  # as sent: it names no one for sure
    notify_head(
        session,
        agency.id,
        f"account request not passed on: {account.username}",
        f"{account.username} ({account.email}) asked for a {account.account_type} account "
        f"in {agency.name}, to be approved by {named}; it was not passed on: "
        f"{why}. The sender was answered as for any request; if it is one of yours, tell "
        "them.",
    )
    details = {"code": "request_declined", "reason": why, "supervisor": named}
    append(
        session,
        AuditEvent(
            account.username, "account.request.refused", account.username, details, agency.name
        ),
    )


def _check_request_rate(session: Session, agency: Agency) -> None:
    now = utc_now()
    pending = session.scalar(
        select(func.count(User.id)).where(User.agency_id == agency.id, User.status == "requested")
    )
    answered = select(func.count(AuditEntryRow.seq)).where(
        AuditEntryRow.agency == agency.name,
        AuditEntryRow.kind.in_(("account.request", "account.request.refused")),
    )
    recent = session.scalar(answered.where(AuditEntryRow.at >= _iso(now - timedelta(hours=1))))
    declined = session.scalar(
        answered.where(
            AuditEntryRow.kind == "account.request.refused",
            AuditEntryRow.at >= _iso(now - DECLINED_COUNT_FOR),
        )
    )
    if (pending or 0) + (declined or 0) >= MAX_PENDING_REQUESTS or (
        recent or 0
    ) >= MAX_REQUESTS_PER_HOUR:
        raise RateLimitedError(
            "this agency has too many open account requests; try again later",
            subject="account.request",
        )


def _iso(moment: datetime) -> str:
    """A time as the log writes its entries' (``governance.audit.append``)."""
    return moment.isoformat(timespec="microseconds")


def suspend_account(ctx: AppContext, actor: Principal, username: str, reason: str) -> None:
    """Immediate: the user's tokens stop working at their next use. By a supervisor or head
    of the same agency, or a system admin (only a system admin suspends someone holding a
    platform role; the last active system admin is never suspended). Audited, refusals too."""
    with action(ctx, actor.username, "account.suspend", username) as session:
        reason = fields.check_free_text("reason", reason, min_len=1)
        who = current_actor(session, actor)
        user = visible_user(session, who, username)
        roles = roles_of(session, user.id)
        if not may_suspend(who, user.id, user.agency_id, roles):
            raise PermissionDeniedError(
                "only a supervisor or head of the same agency suspends", subject=username
            )
        if Role.SYSTEM_ADMIN.value in roles and not active_admins(session, excluding=user.id):
            raise PermissionDeniedError(
                "the last active system admin cannot be suspended", subject=username
            )
        user.status = "suspended"
        notify_head(
            session,
            user.agency_id,
            f"account suspended: {username}",
            f"{actor.username} suspended {username}: {reason}",
        )
        suspended = AccountSuspended(
            actor=actor.username,
            agency=name_of_agency(session, user.agency_id),
            username=username,
            reason=reason,
        )
        append(session, suspended.entry())
    deliver_outbox(ctx)


def set_roles(ctx: AppContext, actor: Principal, username: str, roles: tuple[Role, ...]) -> None:
    """Replace a user's roles: each role added or removed must be one the actor may grant in
    the user's agency (``governance.authority``); never one's own; the last active system
    admin keeps the role. The head is told. Audited, refusals too."""
    with action(ctx, actor.username, "account.roles", username) as session:
        if not roles:
            raise InvalidRequestError("give at least one role", subject="roles")
        who = current_actor(session, actor)
        user = visible_user(session, who, username)
        before = sorted(roles_of(session, user.id))
        after = sorted({Role(r).value for r in roles})
        problem = role_change_problem(
            who,
            user.id,
            user.agency_id,
            before,
            after,
            other_active_admins=active_admins(session, excluding=user.id),
        )
        if problem is not None:
            raise PermissionDeniedError(problem, subject=username)
        session.execute(delete(UserRole).where(UserRole.user_id == user.id))
        for role in after:
            session.add(UserRole(user_id=user.id, role=role))
        notify_head(
            session,
            user.agency_id,
            f"roles changed: {username}",
            f"{actor.username} changed the roles of {username} from "
            f"{', '.join(before)} to {', '.join(after)}.",
        )
        entry = append(
            session,
            AuditEvent(actor.username, "account.roles", username, {"from": before, "to": after}),
        )
        seal_roles(session, user.id, entry.seq)
    deliver_outbox(ctx)


def principal_of(session: Session, user: User, roles_read: RoleRead | None = None) -> Principal:
    """The signed-in person as services see them; roles edited behind facetrail's back are
    refused (``RecordMismatchError``), never granted. ``roles_read``: their roles as read
    with them (see ``authorization.role_columns``)."""
    roles = checked_roles(session, user, roles_read)
    agency = session.get(Agency, user.agency_id)
    assert agency is not None
    return Principal(user.id, user.username, user.agency_id, agency.name, roles)


#: An agency's latest policy version (built once, with a bound parameter).
_CURRENT_POLICY = (
    select(PolicyVersion)
    .where(PolicyVersion.agency_id == bindparam("agency_id"))
    .order_by(PolicyVersion.version.desc())
    .limit(1)
)


def current_policy(session: Session, agency_id: int) -> tuple[int, Policy]:
    """(version, policy) in force for an agency. A version whose row disagrees with the audit
    entry that made it (edited in the database) is refused: facetrail never acts on it."""
    row = session.scalars(_CURRENT_POLICY, {"agency_id": agency_id}).first()
    if row is None:
        return 0, Policy()
    policy = Policy.from_json(row.body)
    problem = policy_row_problem(session, row, policy)
    if problem is None:
        agency = session.get(Agency, agency_id)
        problem = superseded_problem(session, row, agency.name if agency else "")
    if problem is not None:
        raise RecordMismatchError(problem, subject=f"policy:{agency_id}:v{row.version}")
    return row.version, policy


def policy_row_problem(session: Session, row: PolicyVersion, policy: Policy) -> str | None:
    """Why a stored policy version disagrees with its audit entry (None: it agrees)."""
    del policy  # the row's own body is compared
    return policy_problem(session, row)
