"""Authentication: password + TOTP (or a one-time recovery code) -> a session token; tokens
-> the user behind them.

Authorisation: ``login`` and ``authenticate`` need no account; ``issue_token`` needs the
signed-in user's password and second factor afresh (a token cannot mint tokens);
``revoke_token`` revokes the caller's own tokens (a system admin may revoke anyone's).
Audit: every login, failed login, token use, refused token, issue and revocation is an entry.

Each sign-in attempt is checked and counted in one locking transaction (``attempt``): a wrong
password or code raises the failure counter and is recorded in that same transaction, so
parallel guesses cannot lose counts and a locked account cannot sign in, enrol or mint tokens.

No answer tells which usernames exist: a name no account holds, a wrong password, a locked
account and an account not yet approved all get the same refusal (the log records which it
was), and a password is checked (against a stand-in hash for an unknown name or a locked
account) before any of them is decided, so each takes as long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AuthError,
    EnrolmentRequiredError,
    FacetrailError,
    InvalidFieldError,
    InvalidRequestError,
    PasswordChangeRequiredError,
)
from facetrail.governance import credentials as cred
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.fields import check_token_name, check_username
from facetrail.governance.seal_checks import row_problem, tampered
from facetrail.services.accounts import (
    Principal,
    as_utc,
    inactive_reason,
    principal_of,
    refuse,
    utc_now,
)
from facetrail.services.context import AppContext
from facetrail.services.signin.tokens import (
    RECENT_TOKEN_SECONDS,
    TokenUse,
    add_token,
    authenticate,
    check_token,
    finish_use,
    recent_token,
    revoke_token,
)
from facetrail.services.unit_of_work import loggable, unsigned_action
from facetrail.store.schema import RecoveryCode, User

__all__ = [
    "LOCKOUT",
    "MAX_FAILED_LOGINS",
    "MAX_TOKEN_DAYS",
    "RECENT_TOKEN_SECONDS",
    "SESSION_TOKEN_LIFETIME",
    "LoginResult",
    "TokenUse",
    "add_token",
    "attempt",
    "authenticate",
    "check_token",
    "finish_use",
    "issue_token",
    "login",
    "recent_token",
    "revoke_token",
    "totp_key",
]

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
#: The one refusal of a sign-in whose name, password or lockout is wrong: it says no more.
CODE_USED = (
    "that code was already used to sign in: wait for the next code in your authenticator "
    "(a new one comes every 30 seconds)"
)
VAGUE = (
    f"wrong username, password or code (after {MAX_FAILED_LOGINS} failed sign-ins in a row an "
    f"account waits {LOCKOUT.seconds // 60} minutes)"
)
SESSION_TOKEN_LIFETIME = timedelta(hours=12)
MAX_TOKEN_DAYS = 90

T = TypeVar("T")
#: Which second factor an attempt must show: none (password only), the enrolled one (TOTP or
#: a recovery code), or the TOTP secret being enrolled.
#: What is checked after the password: nothing, the enrolled second factor, the code of a
#: second factor being enrolled, or the mailed enrolment code (``invite``: only for an account
#: set up, or whose second factor was reset, by someone else).
Factor = Literal["none", "enrolled", "enrolling", "invite"]


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: str
    principal: Principal


def totp_key(ctx: AppContext, *, create: bool = False) -> bytes:
    """The key that seals this installation's TOTP secrets (kept outside the database)."""
    return cred.load_secrets_key(ctx.settings.totp_key_file, create=create)


def attempt(
    ctx: AppContext,
    username: str,
    password: str,
    code: str | None,
    *,
    factor: Factor,
    refused_kind: str,
    act: Callable[[Session, User, str], T],
    check: Callable[[User], FacetrailError | None] = lambda _user: None,
    check_first: bool = False,
    now: datetime,
) -> T:
    """Check a sign-in attempt and, when it holds, ``act(session, user, factor used)``, all in
    one locking transaction. A refusal (unknown user, locked, wrong password or code, reused
    code, or ``check``'s objection) is a ``refused_kind`` entry written in that transaction
    together with the failure count it raised, then raised. ``check`` runs after the second
    factor, or right after the password when ``check_first`` (so that a refusal it makes does
    not use up the code)."""
    shown = loggable(username)  # a hostile name is logged escaped, never replayed
    kind = refused_kind.removesuffix(".refused").removesuffix(".failed")
    with unsigned_action(ctx, shown, kind, shown) as session:
        # A name the field rules refuse names no account: looked up as unknown, never sent to
        # the database (PostgreSQL cannot even compare text holding NUL).
        user = (
            session.scalar(select(User).where(User.username == username))
            if _well_formed(username)
            else None
        )
        first = check if check_first else None
        # A password, second factor, status or agency written outside facetrail signs no one in.
        problem: FacetrailError | None = (
            tampered(session, f"the account of {shown}", {"users": [user]})
            if user is not None
            else None
        )
        if problem is not None:
            cred.no_password_matches(password)  # as long as any other refusal
            note = "account record changed outside facetrail"
        else:
            problem, note = _verify(
                ctx, session, user, username, password, code, factor, now, first
            )
        if problem is None and not check_first:
            assert user is not None
            if (problem := check(user)) is not None:
                note = "refused"
        if problem is not None:
            append(
                session,
                AuditEvent(shown, refused_kind, shown, {"code": problem.code, "reason": note}),
            )
        else:
            assert user is not None
            user.failed_logins = 0
            result = act(session, user, note)
    if problem is not None:
        raise problem
    return result


def _well_formed(username: str) -> bool:
    try:
        return check_username(username) == username
    except FacetrailError:
        return False


def _verify(
    ctx: AppContext,
    session: Session,
    user: User | None,
    username: str,
    password: str,
    code: str | None,
    factor: Factor,
    now: datetime,
    check: Callable[[User], FacetrailError | None] | None = None,
) -> tuple[FacetrailError | None, str]:
    """(the problem or None, why refused or which second factor matched)."""
    vague = AuthError(VAGUE, subject=loggable(username))
    if user is None:
        cred.no_password_matches(password)
        return vague, "unknown_user"
    if (as_utc(user.locked_until) or now) > now:
        # A guess during a lockout is not checked (nor told apart from a wrong one), however
        # right it is; it takes as long all the same.
        cred.no_password_matches(password)
        return vague, "locked"
    if not cred.password_matches(user.password_hash, password):
        return _failed(user, now, vague), "password"
    if user.status == "requested":
        # Until a supervisor approves it, a request signs in as a name no account holds: an
        # account request must not tell a free username from a taken one (nor may a sign-in
        # with the password the request gave).
        return vague, "not_approved"
    one_time = as_utc(user.password_expires_at)
    if one_time is not None and one_time <= now:
        return AuthError(
            "the one-time password has expired; ask for another reset", subject=user.username
        ), "password_expired"
    if check is not None and (objection := check(user)) is not None:
        return objection, "refused"
    if factor == "invite":
        return _enrol_code(user, code, now)
    if factor == "none":
        return None, "password"
    if factor == "enrolled" and user.totp_enrolled_at is None:
        return inactive_reason(user, now) or EnrolmentRequiredError(
            "no second factor yet: run 'facetrail enrol' to set one up", subject=user.username
        ), "not_enrolled"
    if factor == "enrolling" and (user.totp_enrolled_at is not None or user.totp_secret is None):
        return EnrolmentRequiredError(
            "start the enrolment first (it shows the secret to confirm)", subject=user.username
        ), "not_enrolling"
    matched = _second_factor(ctx, session, user, code or "", now, recovery=factor == "enrolled")
    if matched in ("totp", "recovery_code"):
        return None, matched
    if matched == "totp_reused":
        # The right password and a real code, already spent (signing in twice within 30 s):
        # said plainly and not counted towards the lockout; the code is refused all the same.
        return AuthError(CODE_USED, subject=user.username), matched
    return _failed(user, now, vague), matched


def _enrol_code(user: User, code: str | None, now: datetime) -> tuple[FacetrailError | None, str]:
    """An account someone else set up enrols only with the code mailed to its owner; a wrong
    or missing one counts as a failed sign-in."""
    if user.enrol_code_hash is None:
        return None, "password"
    expires = as_utc(user.enrol_code_expires_at)
    if expires is not None and expires <= now:
        return AuthError(
            "the enrolment code has expired; ask your agency's head to reset your second "
            "factor (a new code is mailed to you)",
            subject=user.username,
        ), "enrol_code_expired"
    if code and cred.same_hash(cred.secret_hash(code.upper()), user.enrol_code_hash):
        return None, "enrol_code"
    hint = AuthError(
        "wrong username, password or code (an account set up by someone else also needs the "
        "enrolment code mailed to its owner: --invite CODE)",
        subject=user.username,
    )
    return _failed(user, now, hint), "enrol_code"


def _failed(user: User, now: datetime, problem: FacetrailError) -> FacetrailError:
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = now + LOCKOUT
        user.failed_logins = 0
    return problem


def _second_factor(
    ctx: AppContext, session: Session, user: User, code: str, now: datetime, *, recovery: bool
) -> str:
    """ "totp" or "recovery_code" when one matched (and is now used up); else why not."""
    stored = user.totp_secret
    assert stored is not None
    key = totp_key(ctx, create=not cred.is_sealed(stored))
    secret = cred.open_secret(key, stored, user.id)
    if not cred.is_sealed(stored):
        user.totp_secret = cred.seal_secret(key, secret, user.id)  # a legacy plaintext row
    step = cred.totp_step(secret, code, at=now.timestamp())
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return "totp_reused"
        user.totp_last_step = step
        return "totp"
    if recovery:
        used = session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == cred.secret_hash(code),
                RecoveryCode.used_at.is_(None),
            )
        )
        # a code planted outside facetrail is no code (audit verify names the row)
        if used is not None and row_problem(session, "recovery_codes", used) is None:
            used.used_at = now
            return "recovery_code"
    return "code"


def _active(now: datetime) -> Callable[[User], FacetrailError | None]:
    def check(user: User) -> FacetrailError | None:
        if (problem := inactive_reason(user, now)) is not None:
            return problem
        if user.password_expires_at is not None:
            return PasswordChangeRequiredError(
                "set your own password first: 'facetrail accounts password'",
                subject=user.username,
            )
        return None

    return check


def login(
    ctx: AppContext, username: str, password: str, code: str, *, now: datetime | None = None
) -> LoginResult:
    """Password + TOTP code (or a one-time recovery code) -> a session token. Needs no
    account; an account without a second factor is sent to enrol one. Audited: ``auth.login``
    or ``auth.login.failed``."""
    at = now or utc_now()

    def act(session: Session, user: User, factor: str) -> LoginResult:
        expires = at + SESSION_TOKEN_LIFETIME
        token, _ = add_token(session, user.id, "session", expires)
        append(session, AuditEvent(username, "auth.login", username, {"mfa": factor}))
        return LoginResult(token, expires.isoformat(), principal_of(session, user))

    return attempt(
        ctx,
        username,
        password,
        code,
        factor="enrolled",
        refused_kind="auth.login.failed",
        act=act,
        check=_active(at),
        now=at,
    )


def issue_token(
    ctx: AppContext,
    actor: Principal,
    name: str,
    days: int = 30,
    *,
    password: str,
    code: str,
    now: datetime | None = None,
) -> LoginResult:
    """A named API token for the signed-in user (for scripts and the API), shown once; it
    expires after ``days`` (at most 90) and dies with a suspension or revocation.

    A token cannot mint tokens: the user's password and second factor are checked afresh, as
    a sign-in (a locked account gets none; wrong ones count towards the lockout). Audited:
    ``auth.token.issue`` or ``auth.token.issue.refused``."""
    at = now or utc_now()
    if not 1 <= days <= MAX_TOKEN_DAYS:
        refuse(
            ctx,
            actor.username,
            "auth.token.issue",
            actor.username,
            InvalidRequestError(f"days must be 1..{MAX_TOKEN_DAYS}", subject="days"),
        )
    try:
        name = check_token_name(name)
    except InvalidFieldError as error:
        refuse(ctx, actor.username, "auth.token.issue", actor.username, error)
    expires = at + timedelta(days=days)

    def act(session: Session, user: User, factor: str) -> LoginResult:
        token, digest = add_token(session, user.id, name, expires)
        details = {"token": digest[:12], "name": name, "days": days, "mfa": factor}
        append(session, AuditEvent(actor.username, "auth.token.issue", actor.username, details))
        return LoginResult(token, expires.isoformat(), principal_of(session, user))

    return attempt(
        ctx,
        actor.username,
        password,
        code,
        factor="enrolled",
        refused_kind="auth.token.issue.refused",
        act=act,
        check=_active(at),
        now=at,
    )
