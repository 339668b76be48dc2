"""The organisation as people look it up: accounts (a list, or one shown), agencies, networks,
and one's own API tokens.

Authorisation (decided in ``governance.authority``, on the actor as the database says now):
an agency's people are listed by its head, supervisors and auditors, and any agency's by a
system admin (``may_read_accounts``); everyone may show their own account
(``may_read_account``); an agency is seen by its people, its network's operators and system
admins (``may_read_agency``); a network by system admins and the people of its member
agencies (``may_read_network``); API tokens by their owner alone. Another agency's people
and agencies answer as not found, never as "not yours".

Audit: every listing and view is an entry naming what was shown (``account.list``,
``account.view``, ``agency.list``, ``network.list``, ``auth.token.list``); a refusal is
``<kind>.refused`` (``unit_of_work.action``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.errors import NotFoundError, PermissionDeniedError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    may,
    may_read_account,
    may_read_accounts,
    may_read_agency,
    may_read_network,
    names_every_agency,
)
from facetrail.governance.credentials import Principal, Role
from facetrail.services.authorization import as_utc, utc_now, visible_user
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import action
from facetrail.store.schema import (
    AccountApproval,
    Agency,
    ApiToken,
    Network,
    PolicyVersion,
    User,
    UserRole,
)

__all__ = [
    "TOKEN_ID_LENGTH",
    "AccountView",
    "AgencyView",
    "NetworkView",
    "TokenView",
    "list_accounts",
    "list_agencies",
    "list_networks",
    "list_tokens",
    "show_account",
    "token_view",
]

K = TypeVar("K")
V = TypeVar("V")

#: How much of a token's SHA-256 names it: the id its audit entries carry (never more).
TOKEN_ID_LENGTH = 12


@dataclass(frozen=True)
class AccountView:
    """A person's account as the people who oversee it see it (never a secret of it)."""

    username: str
    email: str
    agency: str
    #: requested | active | suspended
    status: str
    roles: list[str]
    #: trial | full
    account_type: str
    trial_expires_at: str | None
    created_at: str
    #: who granted or approved it (None: the first admin, or a request not yet approved)
    approved_by: str | None
    #: the supervisor a request named, if any
    supervisor: str | None
    #: whether its owner has enrolled a second factor
    second_factor: bool
    #: for a requested account, who approved it so far (it waits for a second person)
    approvals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AgencyView:
    name: str
    network: str | None
    #: its people, in every status
    accounts: int
    #: the usernames holding the agency_head role
    heads: list[str]
    policy_version: int | None


@dataclass(frozen=True)
class NetworkView:
    name: str
    #: the member agencies the viewer may see
    agencies: list[str]


@dataclass(frozen=True)
class TokenView:
    """One of the caller's bearer tokens; ``id`` is the start of its hash, as audit entries
    name it (the token itself is shown once, when issued, and never stored)."""

    id: str
    #: as given at ``token create``; sign-ins are named "session"
    name: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    #: neither revoked nor expired
    active: bool


def list_accounts(
    ctx: AppContext, actor: Principal, agency: str | None = None
) -> list[AccountView]:
    """The people of ``agency`` (default: the actor's own; a system admin: everyone), by
    agency and username. By the agency's head, supervisors and auditors, or a system admin;
    another agency answers as not found (a network operator who may see it: refused). Audited
    as ``account.list`` with the usernames shown, refusals too."""
    subject = agency or ("accounts" if names_every_agency(actor.roles) else actor.agency)
    with action(ctx, actor, "account.list", subject, Permission.USE_ACCOUNT) as (session, who):
        stmt = select(User, Agency.name).join(Agency, Agency.id == User.agency_id)
        if agency is not None:
            row = _readable_agency(session, who, agency)
            if not may_read_accounts(who, row.id):
                raise _accounts_refused(subject)
            stmt = stmt.where(User.agency_id == row.id)
        elif not may(who, Permission.ACT_ON_EVERY_AGENCY):
            if not may_read_accounts(who, who.agency_id):
                raise _accounts_refused(subject)
            stmt = stmt.where(User.agency_id == who.agency_id)
        rows = session.execute(stmt.order_by(Agency.name, User.username)).all()
        found = _account_views(session, rows)
        shown = [a.username for a in found]
        append(session, AuditEvent(actor.username, "account.list", subject, {"shown": shown}))
    return found


def show_account(ctx: AppContext, actor: Principal, username: str) -> AccountView:
    """One account: one's own, or one of an agency whose people the actor may list (its head,
    supervisors, auditors; a system admin any). Another agency's people answer as not found.
    Audited as ``account.view``, refusals too."""
    with action(ctx, actor, "account.view", username, Permission.USE_ACCOUNT) as (session, who):
        user = visible_user(session, who, username)
        if not may_read_account(who, user.id, user.agency_id):
            raise PermissionDeniedError(
                "only the agency's head, supervisors and auditors see its people's accounts",
                subject=username,
            )
        agency_name = session.scalar(select(Agency.name).where(Agency.id == user.agency_id))
        (view,) = _account_views(session, [(user, agency_name or "")])
        append(session, AuditEvent(actor.username, "account.view", username))
    return view


def list_agencies(ctx: AppContext, actor: Principal) -> list[AgencyView]:
    """The agencies the actor may see, by name: every one for a system admin, their network's
    members for a network operator, else their own. Any active account; audited as
    ``agency.list`` with the names shown, refusals (an inactive account) too."""
    with action(ctx, actor, "agency.list", "agencies", Permission.USE_ACCOUNT) as (session, who):
        agencies = [
            a
            for a in session.scalars(select(Agency).order_by(Agency.name))
            if may_read_agency(who, a.id, a.network_id)
        ]
        found = _agency_views(session, agencies)
        shown = [a.name for a in found]
        append(session, AuditEvent(actor.username, "agency.list", "agencies", {"shown": shown}))
    return found


def list_networks(ctx: AppContext, actor: Principal) -> list[NetworkView]:
    """The networks the actor may see, by name, each with the member agencies the actor may
    see: all of them for a system admin, else the network of their own agency. Any active
    account; audited as ``network.list``, refusals too."""
    with action(ctx, actor, "network.list", "networks", Permission.USE_ACCOUNT) as (session, who):
        networks = [
            n
            for n in session.scalars(select(Network).order_by(Network.name))
            if may_read_network(who, n.id)
        ]
        members: dict[int, list[str]] = defaultdict(list)
        for agency in session.scalars(
            select(Agency)
            .where(Agency.network_id.in_([n.id for n in networks]))
            .order_by(Agency.name)
        ):
            if agency.network_id is not None and may_read_agency(who, agency.id, agency.network_id):
                members[agency.network_id].append(agency.name)
        found = [NetworkView(n.name, members[n.id]) for n in networks]
        shown = [n.name for n in found]
        append(session, AuditEvent(actor.username, "network.list", "networks", {"shown": shown}))
    return found


def list_tokens(
    ctx: AppContext, actor: Principal, *, include_inactive: bool = False
) -> list[TokenView]:
    """The caller's own bearer tokens (named API tokens and sign-in sessions), newest first;
    only the ones that still work unless ``include_inactive``. Nobody lists another person's
    tokens. Audited as ``auth.token.list`` with the ids shown, refusals too."""
    with action(ctx, actor, "auth.token.list", actor.username, Permission.USE_ACCOUNT) as (
        session,
        who,
    ):
        now = utc_now()
        rows = session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == who.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        ).all()
        found = [
            view for view in (token_view(r, now) for r in rows) if include_inactive or view.active
        ]
        shown = [t.id for t in found]
        append(
            session,
            AuditEvent(actor.username, "auth.token.list", actor.username, {"shown": shown}),
        )
    return found


# --- loading ----------------------------------------------------------------------------


def _readable_agency(session: Session, who: Actor, name: str) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.name == name))
    if agency is None or not may_read_agency(who, agency.id, agency.network_id):
        raise NotFoundError("no such agency", subject=name)
    return agency


def _accounts_refused(subject: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        "needs agency_head, supervisor or auditor of the agency, or system_admin",
        subject=subject,
    )


def _account_views(session: Session, rows: Sequence[tuple[User, str]]) -> list[AccountView]:
    ids = [user.id for user, _ in rows]
    roles: dict[int, list[str]] = defaultdict(list)
    for user_id, role in session.execute(
        select(UserRole.user_id, UserRole.role)
        .where(UserRole.user_id.in_(ids))
        .order_by(UserRole.role)
    ):
        roles[user_id].append(role)
    names = _usernames(
        session, {i for user, _ in rows for i in (user.approved_by, user.supervisor_id) if i}
    )
    approvals: dict[int, list[str]] = defaultdict(list)
    requested = [user.id for user, _ in rows if user.status == "requested"]
    for user_id, approver in session.execute(
        select(AccountApproval.user_id, User.username)
        .join(User, User.id == AccountApproval.approver_id)
        .where(AccountApproval.user_id.in_(requested))
        .order_by(AccountApproval.approved_at)
    ):
        approvals[user_id].append(approver)
    return [
        AccountView(
            username=user.username,
            email=user.email,
            agency=agency,
            status=user.status,
            roles=roles[user.id],
            account_type=user.account_type,
            trial_expires_at=_iso(user.trial_expires_at),
            created_at=_iso(user.created_at) or "",
            approved_by=names.get(user.approved_by) if user.approved_by else None,
            supervisor=names.get(user.supervisor_id) if user.supervisor_id else None,
            second_factor=user.totp_enrolled_at is not None,
            approvals=approvals[user.id],
        )
        for user, agency in rows
    ]


def _agency_views(session: Session, agencies: list[Agency]) -> list[AgencyView]:
    ids = [a.id for a in agencies]
    people = _pairs(
        session.execute(
            select(User.agency_id, func.count(User.id))
            .where(User.agency_id.in_(ids))
            .group_by(User.agency_id)
        )
    )
    versions = _pairs(
        session.execute(
            select(PolicyVersion.agency_id, func.max(PolicyVersion.version))
            .where(PolicyVersion.agency_id.in_(ids))
            .group_by(PolicyVersion.agency_id)
        )
    )
    heads: dict[int, list[str]] = defaultdict(list)
    for agency_id, username in session.execute(
        select(User.agency_id, User.username)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.agency_id.in_(ids), UserRole.role == Role.AGENCY_HEAD.value)
        .order_by(User.username)
    ):
        heads[agency_id].append(username)
    networks = _network_names(session, {a.network_id for a in agencies if a.network_id})
    return [
        AgencyView(
            name=a.name,
            network=networks.get(a.network_id) if a.network_id else None,
            accounts=people.get(a.id, 0),
            heads=heads[a.id],
            policy_version=versions.get(a.id),
        )
        for a in agencies
    ]


def token_view(row: ApiToken, now: datetime) -> TokenView:
    expires = as_utc(row.expires_at)
    return TokenView(
        id=row.token_hash[:TOKEN_ID_LENGTH],
        name=row.name,
        created_at=_iso(row.created_at) or "",
        expires_at=_iso(row.expires_at) or "",
        revoked_at=_iso(row.revoked_at),
        active=row.revoked_at is None and expires is not None and expires > now,
    )


def _usernames(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(ids)
    if not wanted:
        return {}
    return _pairs(session.execute(select(User.id, User.username).where(User.id.in_(wanted))))


def _network_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(ids)
    if not wanted:
        return {}
    return _pairs(session.execute(select(Network.id, Network.name).where(Network.id.in_(wanted))))


def _pairs(rows: Iterable[tuple[K, V]]) -> dict[K, V]:
    # dict(result) would take a SQLAlchemy result for a mapping (it has keys())
    return {key: value for key, value in rows}


def _iso(value: datetime | None) -> str | None:
    moment = as_utc(value)
    return moment.isoformat() if moment is not None else None
