"""Account requests: anyone may ask, from a domain the agency registered; rate-limited,
answered alike whoever asked, approved elsewhere (``services.accounts.account_approval``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitedError,
)
from facetrail.governance import credentials as cred
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    AGENCY_ROLES,
)
from facetrail.governance.credentials import Role
from facetrail.governance.events import (
    AccountRequested,
)
from facetrail.services.accounts.agency_domains import check_account_email
from facetrail.services.accounts.records import (
    Enrolment,
    NewAccount,
    add_user,
    agency_by_name,
    checked_account,
    enrolment_user_id,
    seal_roles,
)
from facetrail.services.authorization import (
    roles_of,
    utc_now,
)
from facetrail.services.context import AppContext
from facetrail.services.notifications import (
    deliver_outbox,
    notify_head,
    notify_users,
)
from facetrail.services.unit_of_work import loggable, unsigned_action
from facetrail.store.schema import (
    Agency,
    AuditEntryRow,
    User,
)

__all__ = [
    "DECLINED_COUNT_FOR",
    "MAX_PENDING_REQUESTS",
    "MAX_REQUESTS_PER_HOUR",
    "REQUESTABLE_ROLES",
    "request_account",
]


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
    agency's head, or two of its supervisors, approve it (``services.accounts.account_approval``).
    The named supervisor and the head are told. Requests are rate-limited per agency.

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
    with unsigned_action(ctx, account.username, "account.request", account.username) as session:
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
    add_user(session, account, agency, "requested", supervisor.id, password_hash=password_hash)
    text = (
        f"{account.username} ({account.email}) asks for a {account.account_type} account "
        f"in {agency.name}, to be approved by {supervisor.username}. Approve it, or leave it, "
        f"on the page /agency/people#requests."
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
