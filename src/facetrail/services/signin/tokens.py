"""API and session tokens -> the user behind them: each use checked (and recorded) with the
request's own action where it can be (``TokenUse``), a token row written outside facetrail
refused, a token revoked by its owner (or a system admin).

Authorisation: ``authenticate`` and ``check_token`` need no account; ``revoke_token`` revokes
the caller's own tokens (a system admin may revoke anyone's). Audit: every token use, refused
token and revocation is an entry. Minting one is a sign-in (``authentication.issue_token``).
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    FacetrailError,
    NotFoundError,
    TokenInvalidError,
)
from facetrail.governance import credentials as cred
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may
from facetrail.governance.seal_checks import tampered
from facetrail.services.accounts import (
    Principal,
    as_utc,
    inactive_reason,
    principal_of,
    utc_now,
)
from facetrail.services.authorization import AccountState, RoleRead, role_columns
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import action, record_refusal, unsigned_action
from facetrail.store.schema import Agency, ApiToken, User

__all__ = [
    "RECENT_TOKENS_MAX",
    "RECENT_TOKEN_SECONDS",
    "TokenUse",
    "add_token",
    "authenticate",
    "check_token",
    "finish_use",
    "recent_token",
    "revoke_token",
]


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
    with unsigned_action(ctx, "token", "auth.token.use", "token") as session:
        checked = _token_check(session, digest, now)
        problem = checked.problem
        if problem is None:
            _record_check(session, digest, checked.user, None)
            principal = checked.principal(session)
    if problem is not None:
        # As any refusal, so that a flood of bad tokens is counted (``record_refusal``).
        who = checked.user.username if checked.user is not None else "unknown"
        record_refusal(ctx, who, "auth.token", who, problem, {"token": digest[:12]})
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
    #: the action names the token in its own entry (``named``), which is then the use's only
    #: entry: one entry for a page view, not one for the page and one for its token
    in_entry: bool = False

    @property
    def named(self) -> str:
        """The token as entries name it (its hash's first 12 characters)."""
        return self.digest[:12]

    def record(self, session: Session, *, refused: bool) -> None:
        """Check the token again, under the caller's lock, and record its use. A token that
        went bad since ``check_token`` raises its problem, unless ``refused`` (in a refusal's
        transaction): then it is recorded as refused. One statement of plain columns (the
        action reads the person's roles itself)."""
        if self.recorded:
            return  # checked and recorded under a lock already (``check_token``'s fallback)
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
        if problem is None and self.in_entry and not refused:
            return  # the action's own entry names the token
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
        with unsigned_action(ctx, "token", "auth.token.use", "token") as session:
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


def revoke_token(ctx: AppContext, actor: Principal, token: str) -> None:
    """Revoke one of the caller's tokens (a system admin may revoke anyone's). Audited, and so
    is a refusal (someone else's token answers as not found)."""
    digest = cred.secret_hash(token)
    details: dict[str, object] = {"token": digest[:12]}
    subject = actor.username
    with action(ctx, actor, "auth.token.revoke", subject, Permission.USE_ACCOUNT, details) as (
        session,
        who,
    ):
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None or not (
            row.user_id == who.user_id or may(who, Permission.ACT_ON_EVERY_AGENCY)
        ):
            raise NotFoundError("no such token of yours", subject="token")
        row.revoked_at = utc_now()
        append(session, AuditEvent(actor.username, "auth.token.revoke", subject, details))


def revoke_own_token(ctx: AppContext, actor: Principal, token_id: str) -> None:
    """Revoke one of the caller's own tokens by its id (the start of its hash that
    ``list_tokens`` and the audit entries name it by), for a page that never holds the token
    itself. Audited as ``auth.token.revoke``; a refusal too (an id that names none of the
    caller's active tokens, or more than one, answers as not found)."""
    details: dict[str, object] = {"token": token_id[:12]}
    subject = actor.username
    with action(ctx, actor, "auth.token.revoke", subject, Permission.USE_ACCOUNT, details) as (
        session,
        who,
    ):
        if len(token_id) != TOKEN_ID_LENGTH or not all(c in "0123456789abcdef" for c in token_id):
            raise NotFoundError("no such token of yours", subject="token")
        rows = session.scalars(
            select(ApiToken).where(
                ApiToken.user_id == who.user_id,
                ApiToken.token_hash.startswith(token_id),
                ApiToken.revoked_at.is_(None),
            )
        ).all()
        if len(rows) != 1:
            raise NotFoundError("no such token of yours", subject="token")
        rows[0].revoked_at = utc_now()
        append(session, AuditEvent(actor.username, "auth.token.revoke", subject, details))


#: how many hex characters of a token's hash name it
TOKEN_ID_LENGTH = 12
