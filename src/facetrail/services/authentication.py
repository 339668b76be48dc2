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

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, TypeVar, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AuthError,
    EnrolmentRequiredError,
    FacetrailError,
    InvalidFieldError,
    InvalidRequestError,
    NotFoundError,
    PasswordChangeRequiredError,
    TokenInvalidError,
)
from facetrail.governance import credentials as cred
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may
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
from facetrail.services.authorization import AccountState, RoleRead, role_columns
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import loggable
from facetrail.store.schema import Agency, ApiToken, RecoveryCode, User

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
#: The one refusal of a sign-in whose name, password or lockout is wrong: it says no more.
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
    with ctx.transaction() as session:
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


def add_token(session: Session, user_id: int, name: str, expires: datetime) -> tuple[str, str]:
    """A new bearer token for the user -> (token, its SHA-256); only the hash is stored."""
    token = cred.new_token()
    digest = cred.secret_hash(token)
    session.add(ApiToken(user_id=user_id, token_hash=digest, name=name, expires_at=expires))
    return token, digest


#: A token, its owner and their agency, by the token's hash (built once: see checked_roles).
_TOKEN_OWNER = (
    select(ApiToken, User, Agency, *role_columns(User.id, User.username))
    .join(User, User.id == ApiToken.user_id)
    .join(Agency, Agency.id == User.agency_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def authenticate(ctx: AppContext, token: str, *, now: datetime | None = None) -> Principal:
    """The user behind a bearer token; every use (and every refusal) is audited. A suspended
    or expired account's tokens stop working at their next use."""
    now = now or utc_now()
    digest = cred.secret_hash(token)
    with ctx.transaction() as session:
        checked = _token_check(session, digest, now)
        problem = checked.problem
        _record_check(session, digest, checked.user, problem)
        if problem is None:
            principal = checked.principal(session)
    if problem is not None:
        raise problem
    return principal


@dataclass
class TokenUse:
    """A bearer token that ``check_token`` found good, whose use is not recorded yet: the
    request's action records it first in its own locked transaction, or in its refusal's
    (``unit_of_work.action``'s ``first``), and ``finish_use`` records it if neither did (the
    request failed before its action). One transaction fewer per request than
    ``authenticate`` and then the action (the search route's hot path)."""

    digest: str
    user_id: int
    recorded: bool = False
    #: found bad under the lock: ``finish_use`` makes the worker forget its read of it
    went_bad: bool = False

    def record(self, session: Session, *, refused: bool) -> None:
        """Check the token again, under the caller's lock, and record its use. A token that
        went bad since ``check_token`` raises its problem, unless ``refused`` (in a refusal's
        transaction): then it is recorded as refused. One statement of plain columns (the
        action reads the person's roles itself)."""
        found = session.execute(_TOKEN_STATE, {"digest": self.digest}).first()
        owner = cast(AccountState, found) if found is not None else None
        problem: FacetrailError | None
        if found is None or owner is None:
            problem = _unknown_token()
        elif found.user_id != self.user_id:
            problem = TokenInvalidError("the token's owner changed", subject="token")
        else:
            problem = _token_problem(found.revoked_at, found.expires_at, owner, utc_now())
        self.went_bad = problem is not None
        if problem is not None and not refused:
            raise problem
        _record_check(session, self.digest, owner, problem)


#: What ``TokenUse.record`` checks of a token and its owner, by the token's hash.
_TOKEN_STATE = (
    select(
        ApiToken.user_id,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        User.username,
        User.status,
        User.account_type,
        User.trial_expires_at,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


#: How long ``check_token`` trusts its read of a token before reading it again (seconds).
RECENT_TOKEN_SECONDS = 5.0
#: The most tokens it remembers (then it forgets them all).
RECENT_TOKENS_MAX = 4096


def check_token(
    ctx: AppContext, token: str, *, now: datetime | None = None
) -> tuple[Principal, TokenUse]:
    """The user behind a bearer token, for a request whose action records the token's use
    (``TokenUse``): a pre-check, by one read without a lock or a write, which a worker trusts
    for ``RECENT_TOKEN_SECONDS``. It grants nothing on its own: the action checks the token
    and its owner again under its lock, and refuses it if it went bad since (revoked, expired,
    suspended, roles changed). The caller must call ``finish_use``. A token found bad is
    refused (and audited) at once, exactly as by ``authenticate``, and never remembered."""
    digest = cred.secret_hash(token)
    known = _recent(ctx, digest)
    if known is not None:
        return known
    now = now or utc_now()
    with ctx.reads() as session:
        checked = _token_check(session, digest, now)
        principal: Principal | None = None
        if checked.problem is None:
            # Tampered roles raise: refused by the locked check below, as authenticate's.
            with suppress(FacetrailError):
                principal = checked.principal(session)
    if principal is None:
        # Checked again under the lock, with the refusal recorded: it raises, unless the
        # token became good in between (then the use is recorded there).
        principal = authenticate(ctx, token, now=now)
        return principal, TokenUse(digest, principal.user_id, recorded=True)
    if len(ctx.recent_tokens) >= RECENT_TOKENS_MAX:
        ctx.recent_tokens.clear()
    ctx.recent_tokens[digest] = (time.monotonic(), principal)
    return principal, TokenUse(digest, principal.user_id)


def recent_token(ctx: AppContext, token: str) -> tuple[Principal, TokenUse] | None:
    """``check_token``'s answer if this worker read the token in the last
    ``RECENT_TOKEN_SECONDS`` (from memory: no database work), else None."""
    return _recent(ctx, cred.secret_hash(token))


def _recent(ctx: AppContext, digest: str) -> tuple[Principal, TokenUse] | None:
    recent = ctx.recent_tokens.get(digest)
    if recent is None or time.monotonic() - recent[0] >= RECENT_TOKEN_SECONDS:
        return None
    return recent[1], TokenUse(digest, recent[1].user_id)


def finish_use(ctx: AppContext, use: TokenUse) -> None:
    """Record a checked token's use in a transaction of its own, unless the request's action
    did; a token that went bad since is recorded as refused. Never raises a refusal: the
    request it was for has been answered or refused already."""
    if not use.recorded:
        with ctx.transaction() as session:
            use.record(session, refused=True)
        use.recorded = True
    if use.went_bad:
        ctx.recent_tokens.pop(use.digest, None)


class _Checked(NamedTuple):
    """A token's owner as read with it, and what is wrong, if anything. It holds the agency
    read with them, so that ``principal_of`` finds it in the session (which keeps only what
    is referenced) instead of reading it again."""

    user: User | None
    agency: Agency | None
    roles_read: RoleRead | None
    problem: FacetrailError | None

    def principal(self, session: Session) -> Principal:
        assert self.user is not None and self.agency is not None
        return principal_of(session, self.user, self.roles_read)


def _token_check(session: Session, digest: str, now: datetime) -> _Checked:
    """One statement: the token, its owner, their agency and their roles."""
    found = session.execute(_TOKEN_OWNER, {"digest": digest}).first()
    if found is None:
        return _Checked(None, None, None, _unknown_token())
    row, user, agency = found[0], found[1], found[2]
    problem: FacetrailError | None = tampered(
        session, "this token", {"api_tokens": [row], "users": [user]}
    )
    if problem is None:
        problem = _token_problem(row.revoked_at, row.expires_at, user, now)
    return _Checked(user, agency, RoleRead(found[3], found[4]), problem)


def _unknown_token() -> TokenInvalidError:
    return TokenInvalidError("unknown token", subject="token")


def _token_problem(
    revoked_at: datetime | None, expires_at: datetime | None, owner: AccountState, now: datetime
) -> FacetrailError | None:
    """Why a token found by its hash does not work now (revoked, expired, its owner unable
    to act), or None."""
    if revoked_at is not None or (as_utc(expires_at) or now) <= now:
        return TokenInvalidError("token revoked or expired", subject=owner.username)
    return inactive_reason(owner, now)


def _record_check(
    session: Session, digest: str, user: AccountState | None, problem: FacetrailError | None
) -> None:
    who = user.username if user is not None else "unknown"
    if problem is not None:
        details = {"code": problem.code, "token": digest[:12]}
        append(session, AuditEvent(who, "auth.token.refused", who, details))
    else:
        append(session, AuditEvent(who, "auth.token.use", who, {"token": digest[:12]}))


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


def revoke_token(ctx: AppContext, actor: Principal, token: str) -> None:
    """Revoke one of the caller's tokens (a system admin may revoke anyone's). Audited, and so
    is a refusal (someone else's token answers as not found)."""
    with ctx.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == cred.secret_hash(token)))
        mine = row is not None and (
            row.user_id == actor.user_id or may(actor, Permission.ACT_ON_EVERY_AGENCY)
        )
        if row is not None and mine:
            row.revoked_at = utc_now()
            append(
                session,
                AuditEvent(
                    actor.username,
                    "auth.token.revoke",
                    actor.username,
                    {"token": row.token_hash[:12]},
                ),
            )
    if not mine:
        refuse(
            ctx,
            actor.username,
            "auth.token.revoke",
            actor.username,
            NotFoundError("no such token of yours", subject="token"),
            {"token": cred.secret_hash(token)[:12]},
        )
