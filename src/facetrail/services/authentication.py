"""Authentication: password + TOTP (or a one-time recovery code) -> a session token; tokens
-> the user behind them.

Authorisation: ``login`` and ``authenticate`` need no account; ``revoke_token`` revokes the
caller's own tokens (a system admin may revoke anyone's). Audit: every login, failed login,
token use, refused token and revocation is an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountLockedError,
    AuthError,
    FacetrailError,
    InvalidRequestError,
    TokenInvalidError,
)
from facetrail.governance import credentials as cred
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Role
from facetrail.services.accounts import (
    Principal,
    as_utc,
    inactive_reason,
    principal_of,
    utc_now,
)
from facetrail.services.context import AppContext
from facetrail.store.schema import ApiToken, RecoveryCode, User

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_TOKEN_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: str
    principal: Principal


def login(
    ctx: AppContext, username: str, password: str, code: str, *, now: datetime | None = None
) -> LoginResult:
    """Password + TOTP code (or a one-time recovery code) -> a session token."""
    now = now or utc_now()
    with ctx.transaction() as session:
        user = session.scalar(select(User).where(User.username == username))
        problem: FacetrailError | None = None
        if user is None:
            problem = AuthError("wrong username, password or code", subject=username)
        elif (as_utc(user.locked_until) or now) > now:
            problem = AccountLockedError(
                "too many failed logins; try again later", subject=username
            )
        elif not cred.password_matches(user.password_hash, password) or not (
            factor := _second_factor(session, user, code, now)
        ):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
            problem = AuthError("wrong username, password or code", subject=username)
        else:
            problem = inactive_reason(user, now)
        if problem is not None:
            append(
                session, AuditEvent(username, "auth.login.failed", username, {"code": problem.code})
            )
        else:
            assert user is not None
            user.failed_logins = 0
            expires = now + SESSION_TOKEN_LIFETIME
            token, _ = _add_token(session, user.id, "session", expires)
            append(session, AuditEvent(username, "auth.login", username, {"mfa": factor}))
            principal = principal_of(session, user)
    if problem is not None:
        raise problem
    return LoginResult(token, expires.isoformat(), principal)


def _add_token(session: Session, user_id: int, name: str, expires: datetime) -> tuple[str, str]:
    """A new bearer token for the user -> (token, its SHA-256); only the hash is stored."""
    token = cred.new_token()
    digest = cred.secret_hash(token)
    session.add(ApiToken(user_id=user_id, token_hash=digest, name=name, expires_at=expires))
    return token, digest


def _second_factor(session: Session, user: User, code: str, now: datetime) -> str | None:
    """Which second factor matched ("totp" or "recovery_code"), or None."""
    if cred.totp_matches(user.totp_secret, code, at=now.timestamp()):
        return "totp"
    recovery = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == cred.secret_hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if recovery is None:
        return None
    recovery.used_at = now
    return "recovery_code"


def authenticate(ctx: AppContext, token: str, *, now: datetime | None = None) -> Principal:
    """The user behind a bearer token; every use (and every refusal) is audited."""
    now = now or utc_now()
    digest = cred.secret_hash(token)
    with ctx.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        user = session.get(User, row.user_id) if row is not None else None
        problem: FacetrailError | None = None
        if row is None or user is None:
            problem = TokenInvalidError("unknown token", subject="token")
        elif row.revoked_at is not None or (as_utc(row.expires_at) or now) <= now:
            problem = TokenInvalidError("token revoked or expired", subject=user.username)
        else:
            problem = inactive_reason(user, now)
        who = user.username if user is not None else "unknown"
        if problem is not None:
            append(
                session,
                AuditEvent(
                    who, "auth.token.refused", who, {"code": problem.code, "token": digest[:12]}
                ),
            )
        else:
            assert user is not None
            append(session, AuditEvent(who, "auth.token.use", who, {"token": digest[:12]}))
            principal = principal_of(session, user)
    if problem is not None:
        raise problem
    return principal


MAX_TOKEN_DAYS = 90


def issue_token(ctx: AppContext, actor: Principal, name: str, days: int = 30) -> LoginResult:
    """A named API token for the signed-in user (for scripts and the API), shown once; it
    expires after ``days`` (at most 90) and dies with a suspension or revocation."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidRequestError(f"days must be 1..{MAX_TOKEN_DAYS}", subject="days")
    if not name.strip() or len(name) > 100:
        raise InvalidRequestError("name the token (1..100 characters)", subject="name")
    expires = utc_now() + timedelta(days=days)
    with ctx.transaction() as session:
        token, digest = _add_token(session, actor.user_id, name.strip(), expires)
        append(
            session,
            AuditEvent(
                actor.username,
                "auth.token.issue",
                actor.username,
                {"token": digest[:12], "name": name, "days": days},
            ),
        )
    return LoginResult(token, expires.isoformat(), actor)


def revoke_token(ctx: AppContext, actor: Principal, token: str) -> None:
    with ctx.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == cred.secret_hash(token)))
        if row is None or (row.user_id != actor.user_id and not actor.has(Role.SYSTEM_ADMIN)):
            raise TokenInvalidError("no such token of yours", subject="token")
        row.revoked_at = utc_now()
        append(
            session,
            AuditEvent(
                actor.username, "auth.token.revoke", actor.username, {"token": row.token_hash[:12]}
            ),
        )
