"""People's and agencies' records as the account services read and write them: the
account asked for, the enrolment shown, the enrolment code mailed, the roles sealed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountExistsError,
    InvalidRequestError,
    NotFoundError,
)
from facetrail.governance import credentials as cred
from facetrail.governance import fields
from facetrail.governance.credentials import Principal, Role
from facetrail.services.authorization import (
    RoleRead,
    checked_roles,
    utc_now,
)
from facetrail.services.notifications import (
    mail_privately,
)
from facetrail.store.schema import (
    Agency,
    RecoveryCode,
    User,
    UserRole,
)

__all__ = [
    "ENROL_CODE_LIFETIME",
    "Enrolment",
    "NewAccount",
    "add_user",
    "agency_by_name",
    "checked_account",
    "enrolment_user_id",
    "issue_second_factor",
    "principal_of",
    "seal_roles",
    "send_enrol_code",
    "user_by_name",
]


@dataclass(frozen=True)
class Enrolment:
    """A new account, and its second factor when its owner is the one shown it: the TOTP
    secret (and QR URI) and recovery codes, shown once. An account granted or requested
    through someone else has none (``totp_secret`` None): no one but its owner ever sees the
    secret, which they enrol at their first sign-in (``services.signin.enrolment``)."""

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


def add_user(
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
        f"Enrol your second factor yourself with this one-time code, {code}: in the web app\n"
        f"at /enrol, or on the command line:\n\n"
        f"    facetrail enrol {user.username} --invite {code}\n\n"
        f"It works once, until {expires:%Y-%m-%d %H:%M} UTC. No one else has been shown it. "
        "If you did not expect this mail, tell your agency's head.",
    )


def enrolment_user_id(session: Session, username: str) -> int:
    return user_by_name(session, username).id


def seal_roles(session: Session, user_id: int, seq: int) -> None:
    """Point a person's role rows at the entry that granted them (``governance.records``)."""
    session.flush()
    session.execute(update(UserRole).where(UserRole.user_id == user_id).values(audit_seq=seq))


def principal_of(session: Session, user: User, roles_read: RoleRead | None = None) -> Principal:
    """The signed-in person as services see them; roles edited behind facetrail's back are
    refused (``RecordMismatchError``), never granted. ``roles_read``: their roles as read
    with them (see ``authorization.role_columns``)."""
    roles = checked_roles(session, user, roles_read)
    agency = session.get(Agency, user.agency_id)
    assert agency is not None
    return Principal(user.id, user.username, user.agency_id, agency.name, roles)


def issue_second_factor(
    session: Session, user: User, key: bytes, *, confirmed: bool, now: datetime | None = None
) -> Enrolment:
    """A new TOTP secret (sealed with ``key``) and recovery codes for ``user``, replacing any
    earlier ones; confirmed at once only where the person running this is the user (init)."""
    secret = cred.new_totp_secret()
    user.totp_secret = cred.seal_secret(key, secret, user.id)
    user.totp_last_step = None
    user.totp_enrolled_at = (now or utc_now()) if confirmed else None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = cred.new_recovery_codes()
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=cred.secret_hash(code)))
    uri = cred.totp_uri(secret, user.username)
    return Enrolment(user.username, user.status, secret, uri, tuple(codes))
