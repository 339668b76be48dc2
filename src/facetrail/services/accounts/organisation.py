"""Organisations and people: the system, networks, agencies and accounts, granted in the
system, never claimed; suspension and roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountExistsError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from facetrail.governance import credentials as cred
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    may,
    may_grant,
    may_suspend,
    role_change_problem,
)
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.events import (
    AccountCreated,
    AccountSuspended,
    AgencyCreated,
)
from facetrail.services.accounts.agency_domains import check_account_email
from facetrail.services.accounts.policies import first_policy
from facetrail.services.accounts.records import (
    Enrolment,
    NewAccount,
    add_user,
    checked_account,
    enrolment_user_id,
    issue_second_factor,
    seal_roles,
    send_enrol_code,
    user_by_name,
)
from facetrail.services.audit.log import ensure_keys
from facetrail.services.authorization import (
    active_admins,
    name_of_agency,
    roles_of,
    visible_user,
)
from facetrail.services.context import AppContext
from facetrail.services.notifications import (
    deliver_outbox,
    notify_head,
)
from facetrail.services.unit_of_work import action, unsigned_action
from facetrail.store.schema import (
    Agency,
    Network,
    User,
    UserRole,
)

__all__ = [
    "create_agency",
    "create_network",
    "create_user",
    "init_system",
    "set_roles",
    "suspend_account",
]


def init_system(ctx: AppContext, admin: NewAccount) -> Enrolment:
    """First start: the operators' agency and the first system admin. Only once. The admin
    is the person running it, so their second factor is enrolled here and shown to them."""
    admin = checked_account(admin)
    ensure_keys(ctx)
    totp_key = cred.load_secrets_key(ctx.settings.totp_key_file, create=True)
    with unsigned_action(ctx, admin.username, "system.init", "init") as session:
        if session.scalar(select(func.count(User.id))):
            raise AccountExistsError("facetrail is initialised already", subject="init")
        agency = Agency(name=admin.agency)
        session.add(agency)
        session.flush()
        first_policy(session, agency.id, admin.username)
        enrolment = add_user(
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


def create_network(ctx: AppContext, actor: Principal, name: str) -> None:
    """A new network of agencies: by a system admin. Audited, refusals too."""
    with action(ctx, actor, "network.create", name, Permission.MANAGE_ORGANISATION) as (
        session,
        _,
    ):
        name = fields.check_name("network", name)
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
    with action(ctx, actor, "agency.create", name, Permission.MANAGE_ORGANISATION) as (
        session,
        _,
    ):
        name = fields.check_name("agency", name)
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
        first_policy(session, agency.id, actor.username, trial_days)
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


def create_user(
    ctx: AppContext,
    actor: Principal,
    account: NewAccount,
    *,
    password_expires_at: datetime | None = None,
) -> Enrolment:
    """An account granted directly by a system admin (any role, any agency), or by the head
    of the same agency (agency roles only: ``governance.authority.may_grant``). The head is
    told. Audited, refusals too. ``password_expires_at``: the password given is a one-time
    one, good until then only to set the owner's own (``signin.invitations.invite_account``)."""
    with action(ctx, actor, "account.create", account.username, Permission.MANAGE_AGENCY) as (
        session,
        who,
    ):
        account = checked_account(account)
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
        enrolment = add_user(session, account, agency, "active", None)
        user = user_by_name(session, account.username)
        user.approved_by = actor.user_id
        user.password_expires_at = password_expires_at
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


def suspend_account(ctx: AppContext, actor: Principal, username: str, reason: str) -> None:
    """Immediate: the user's tokens stop working at their next use. By a supervisor or head
    of the same agency, or a system admin (only a system admin suspends someone holding a
    platform role; the last active system admin is never suspended). Audited, refusals too."""
    with action(ctx, actor, "account.suspend", username, Permission.MANAGE_PEOPLE) as (
        session,
        who,
    ):
        reason = fields.check_free_text("reason", reason, min_len=1)
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
    with action(ctx, actor, "account.roles", username, Permission.MANAGE_AGENCY) as (session, who):
        if not roles:
            raise InvalidRequestError("give at least one role", subject="roles")
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
