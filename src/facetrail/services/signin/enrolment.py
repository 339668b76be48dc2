"""A person's own credentials: enrolling a second factor at first sign-in, changing one's
password, and the three repairs others may make: reinstating a suspended account, a one-time
password reset and a second-factor reset.

No one but an account's owner ever sees its TOTP secret: accounts granted or requested through
someone else are made without one, and their owner enrols it (``begin_enrolment`` shows it to
them, ``confirm_enrolment`` takes a code from it) before they can do anything else.

Authorisation: ``begin_enrolment``, ``confirm_enrolment`` and ``change_password`` need no
account but the person's own password (and, for a change, their second factor), checked as a
sign-in (``authentication.attempt``: counted towards the lockout). ``reinstate_account``: a
supervisor or head of the person's agency, or a system admin (``may_reinstate``).
``reset_password`` and ``reset_second_factor``: the head of the person's agency or a system
admin, and only a system admin for someone holding a platform role. Nobody repairs their own
account. Audit: every step and every refusal is an entry; repairs also tell the person and
their agency's head.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    PasswordChangeRequiredError,
    PermissionDeniedError,
    StateError,
)
from facetrail.governance import credentials as cred
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    may_reinstate,
    may_reset_credentials,
)
from facetrail.governance.credentials import Principal
from facetrail.services.accounts import Enrolment, principal_of, refuse, send_enrol_code
from facetrail.services.accounts.records import issue_second_factor
from facetrail.services.authorization import (
    inactive_reason,
    roles_of,
    utc_now,
    visible_user,
)
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_head, notify_users
from facetrail.services.signin.authentication import (
    SESSION_TOKEN_LIFETIME,
    LoginResult,
    add_token,
    attempt,
    totp_key,
)
from facetrail.services.unit_of_work import action
from facetrail.store.schema import ApiToken, RecoveryCode, User

__all__ = [
    "ONE_TIME_PASSWORD_LIFETIME",
    "OneTimePassword",
    "begin_enrolment",
    "change_password",
    "confirm_enrolment",
    "reinstate_account",
    "reset_password",
    "reset_second_factor",
]

ONE_TIME_PASSWORD_LIFETIME = timedelta(hours=72)


@dataclass(frozen=True)
class OneTimePassword:
    """Given to the person out of band; it only lets them set their own password."""

    username: str
    password: str
    expires_at: str


def begin_enrolment(
    ctx: AppContext,
    username: str,
    password: str,
    *,
    invite: str | None = None,
    now: datetime | None = None,
) -> Enrolment:
    """First sign-in of an account without a second factor: checks the password (as a
    sign-in) and shows the owner a new TOTP secret, its otpauth URI and recovery codes, none
    of which work until ``confirm_enrolment``. Asked again, it starts afresh. An account set
    up by someone else, or whose second factor was reset, also needs ``invite``: the
    enrolment code mailed to its owner alone (``accounts.send_enrol_code``), so the one who
    knows the password they gave cannot enrol in the owner's name. Audited:
    ``auth.enrol.begin`` or ``auth.enrol.begin.refused``; a wrong code counts towards the
    lockout."""
    at = now or utc_now()
    key = totp_key(ctx)

    def check(user: User) -> FacetrailError | None:
        if user.totp_enrolled_at is not None:
            return StateError(
                "a second factor is enrolled already; the agency's head can reset it",
                subject=user.username,
            )
        return inactive_reason(user, at)

    def act(session: Session, user: User, _factor: str) -> Enrolment:
        enrolment = issue_second_factor(session, user, key, confirmed=False, now=at)
        append(session, AuditEvent(username, "auth.enrol.begin", username))
        return enrolment

    return attempt(
        ctx,
        username,
        password,
        invite,
        factor="invite",
        refused_kind="auth.enrol.begin.refused",
        act=act,
        check=check,
        now=at,
    )


def confirm_enrolment(
    ctx: AppContext,
    username: str,
    password: str,
    code: str,
    *,
    new_password: str | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Completes an enrolment with a code from the secret ``begin_enrolment`` showed and
    signs the person in. An account whose password is a one-time one from a reset sets its
    own (``new_password``) in the same step. Audited: ``auth.enrol`` or
    ``auth.enrol.refused`` (a wrong password or code counts towards the lockout)."""
    at = now or utc_now()
    _refuse_weak(ctx, username, new_password, "auth.enrol")

    def check(user: User) -> FacetrailError | None:
        return inactive_reason(user, at) or _new_password_problem(user, password, new_password)

    def act(session: Session, user: User, factor: str) -> LoginResult:
        user.totp_enrolled_at = at
        user.enrol_code_hash = None  # used up
        user.enrol_code_expires_at = None
        changed = _set_password(user, new_password)
        expires = at + SESSION_TOKEN_LIFETIME
        token, _ = add_token(session, user.id, "session", expires)
        details = {"mfa": factor, "password_changed": changed}
        append(session, AuditEvent(username, "auth.enrol", username, details))
        return LoginResult(token, expires.isoformat(), principal_of(session, user))

    return attempt(
        ctx,
        username,
        password,
        code,
        factor="enrolling",
        refused_kind="auth.enrol.refused",
        act=act,
        check=check,
        check_first=True,
        now=at,
    )


def change_password(
    ctx: AppContext,
    username: str,
    password: str,
    code: str,
    new_password: str,
    *,
    now: datetime | None = None,
) -> None:
    """The person sets a new password with their current one (or a one-time one from a reset)
    and their second factor; every token of theirs is revoked. Audited:
    ``account.password`` or ``account.password.refused``."""
    at = now or utc_now()
    _refuse_weak(ctx, username, new_password, "account.password")

    def check(user: User) -> FacetrailError | None:
        return inactive_reason(user, at) or _new_password_problem(user, password, new_password)

    def act(session: Session, user: User, factor: str) -> None:
        _set_password(user, new_password)
        _revoke_tokens(session, user.id, at)
        append(session, AuditEvent(username, "account.password", username, {"mfa": factor}))

    attempt(
        ctx,
        username,
        password,
        code,
        factor="enrolled",
        refused_kind="account.password.refused",
        act=act,
        check=check,
        check_first=True,
        now=at,
    )


def _refuse_weak(ctx: AppContext, username: str, new_password: str | None, kind: str) -> None:
    if new_password is not None and (problem := cred.password_problem(new_password)):
        refuse(
            ctx,
            username,
            kind,
            username,
            InvalidRequestError(f"password {problem}", subject=username),
        )


def _new_password_problem(
    user: User, password: str, new_password: str | None
) -> FacetrailError | None:
    if new_password is None:
        if user.password_expires_at is not None:
            return PasswordChangeRequiredError(
                "the password is a one-time one: give a new password", subject=user.username
            )
        return None
    if new_password == password:
        return InvalidRequestError(
            "the new password must differ from the current one", subject=user.username
        )
    return None


def _set_password(user: User, new_password: str | None) -> bool:
    if new_password is None:
        return False
    user.password_hash = cred.hash_password(new_password)
    user.password_expires_at = None
    return True


def _revoke_tokens(session: Session, user_id: int, at: datetime) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


# --- repairs by someone else ------------------------------------------------------------


def _tell(session: Session, user: User, subject: str, body: str) -> None:
    notify_users(session, [user.id], subject, body)
    notify_head(session, user.agency_id, subject, body)


@contextmanager
def _on_someone(
    ctx: AppContext,
    actor: Principal,
    kind: str,
    username: str,
    permission: Permission,
    allowed: Callable[[Actor, int, int, Iterable[str]], bool],
    refusal: str,
) -> Iterator[tuple[Session, User]]:
    """One action on someone else's account, as the actor may see it (another agency's
    people answer as not found), refused with ``refusal`` unless ``allowed`` lets the actor
    act on them."""
    with action(ctx, actor, kind, username, permission) as (session, who):
        user = visible_user(session, who, username)
        if not allowed(who, user.id, user.agency_id, roles_of(session, user.id)):
            raise PermissionDeniedError(refusal, subject=username)
        yield session, user


def _done(
    session: Session, actor: Principal, user: User, kind: str, told: tuple[str, str], reason: str
) -> None:
    """What every such action ends with: the person's tokens revoked, they and their head
    told (``told``: the subject's title, what the actor did to them), the entry."""
    _revoke_tokens(session, user.id, utc_now())
    title, did = told
    name = user.username
    _tell(session, user, f"{title}: {name}", f"{actor.username} {did} {name}: {reason}")
    append(session, AuditEvent(actor.username, kind, name, {"reason": reason}))


def reinstate_account(ctx: AppContext, actor: Principal, username: str, reason: str) -> None:
    """A suspended account works again (its lockout cleared); tokens from before the
    suspension stay dead, so the person signs in afresh. By a supervisor or head of the same
    agency, or a system admin; never oneself. Audited (``account.reinstate``), refusals too."""
    with _on_someone(
        ctx,
        actor,
        "account.reinstate",
        username,
        Permission.MANAGE_PEOPLE,
        may_reinstate,
        "only a supervisor or head of the same agency (not the person) reinstates",
    ) as (session, user):
        if user.status != "suspended":
            raise StateError(f"account is {user.status}, not suspended", subject=username)
        user.status = "active"
        user.failed_logins = 0
        user.locked_until = None
        _done(
            session, actor, user, "account.reinstate", ("account reinstated", "reinstated"), reason
        )
    deliver_outbox(ctx)


def reset_password(
    ctx: AppContext, actor: Principal, username: str, reason: str
) -> OneTimePassword:
    """A one-time password for someone who lost theirs, to hand to them: it works for 72
    hours and only to set their own password (their second factor is still needed), so the
    one who reset it never learns the password they choose. Every token of theirs is revoked.
    By the head of their agency or a system admin
    (``governance.authority.may_reset_credentials``). Audited
    (``account.password.reset``), refusals too."""
    with _on_someone(
        ctx,
        actor,
        "account.password.reset",
        username,
        Permission.MANAGE_AGENCY,
        may_reset_credentials,
        "only the agency's head or a system admin resets a password",
    ) as (session, user):
        one_time = secrets.token_urlsafe(15)
        user.password_hash = cred.hash_password(one_time)
        expires = utc_now() + ONE_TIME_PASSWORD_LIFETIME
        user.password_expires_at = expires
        user.failed_logins = 0
        user.locked_until = None
        told = ("password reset", "reset the password of")
        _done(session, actor, user, "account.password.reset", told, reason)
    deliver_outbox(ctx)
    return OneTimePassword(username, one_time, expires.isoformat())


def reset_second_factor(ctx: AppContext, actor: Principal, username: str, reason: str) -> None:
    """After verifying the person (who lost their authenticator and recovery codes): their
    TOTP secret and recovery codes are deleted and every token revoked; they enrol a new one
    at their next sign-in with the enrolment code mailed to them alone (not to the one who
    reset it). By the head of their agency or a system admin
    (``governance.authority.may_reset_credentials``).
    Audited (``account.mfa.reset``), refusals too."""
    with _on_someone(
        ctx,
        actor,
        "account.mfa.reset",
        username,
        Permission.MANAGE_AGENCY,
        may_reset_credentials,
        "only the agency's head or a system admin resets a second factor",
    ) as (session, user):
        user.totp_secret = None
        user.totp_enrolled_at = None
        user.totp_last_step = None
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        send_enrol_code(session, user, actor.username, "reset the second factor of")
        told = ("second factor reset", "reset the second factor of")
        _done(session, actor, user, "account.mfa.reset", told, reason)
    deliver_outbox(ctx)
