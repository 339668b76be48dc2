"""Another person's way in, as the people who may suspend them see it: their active sign-in
sessions and API tokens (never the tokens themselves, which are shown once to their owner and
never stored), and revoking one of them or all, with a reason.

This is the step short of suspension, for a lost laptop or a token pasted where it should not
be: the account stays active, its owner signs in again. The rule is suspension's
(``authority.may_suspend``): a supervisor or head of the person's agency, or a system admin
(only a system admin for someone holding a platform role); nobody uses it on themselves, who
have their own tokens page. Another agency's people answer as not found.

Audit: a listing is ``auth.token.list`` naming the person and the ids shown; a revocation is
``auth.token.revoke`` naming the person, the ids revoked and the reason; refusals are
``<kind>.refused``. The person and their agency's head are told in their inbox and by e-mail."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import NotFoundError, PermissionDeniedError
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Actor, Permission, may_suspend
from facetrail.governance.credentials import Principal
from facetrail.services.accounts.directory import TOKEN_ID_LENGTH, TokenView, token_view
from facetrail.services.authorization import roles_of, utc_now, visible_user
from facetrail.services.context import AppContext
from facetrail.services.notifications import notify_head, notify_users
from facetrail.services.unit_of_work import action
from facetrail.store.schema import ApiToken, User

__all__ = ["MIN_REASON", "revoke_access", "tokens_of"]

#: The fewest characters a revocation's reason takes (the person reads it).
MIN_REASON = 10


def tokens_of(ctx: AppContext, actor: Principal, username: str) -> list[TokenView]:
    """The person's tokens that still work, newest first (audited as ``auth.token.list``
    with the person and the ids shown)."""
    with action(ctx, actor, "auth.token.list", username, Permission.MANAGE_PEOPLE) as (
        session,
        who,
    ):
        user = _managed(session, who, username)
        now = utc_now()
        found = [
            view for view in (token_view(r, now) for r in _tokens(session, user.id)) if view.active
        ]
        details = {"of": username, "shown": [t.id for t in found]}
        append(session, AuditEvent(actor.username, "auth.token.list", username, details))
    return found


def revoke_access(
    ctx: AppContext, actor: Principal, username: str, reason: str, token_id: str | None = None
) -> list[str]:
    """Revoke one of the person's working tokens (``token_id``, as listed) or, without one,
    all of them; -> the ids revoked. A token id that names none of their working tokens
    answers as not found; a person with none left is refused as there being nothing to do."""
    details: dict[str, object] = {"of": username, "token": token_id}
    with action(ctx, actor, "auth.token.revoke", username, Permission.MANAGE_PEOPLE, details) as (
        session,
        who,
    ):
        reason = fields.check_free_text("reason", reason, 2000, min_len=MIN_REASON)
        user = _managed(session, who, username)
        now = utc_now()
        working = [r for r in _tokens(session, user.id, lock=True) if token_view(r, now).active]
        chosen = [r for r in working if token_id is None or r.token_hash.startswith(token_id)]
        if token_id is not None and (len(token_id) < TOKEN_ID_LENGTH or len(chosen) != 1):
            raise NotFoundError(f"{username} has no such working token", subject="token")
        if not chosen:
            raise NotFoundError(f"{username} has no working token to revoke", subject=username)
        for row in chosen:
            row.revoked_at = now
        revoked = [token_view(r, now).id for r in chosen]
        said = f"{actor.username} revoked {len(revoked)} of {username}'s sign-ins and tokens"
        notify_users(
            session,
            [user.id],
            "your sign-ins were revoked",
            f"{said}: {reason}\n\nSign in again to go on; ask {actor.username} if this is news.",
        )
        notify_head(session, user.agency_id, f"access revoked: {username}", f"{said}: {reason}")
        entry = {"of": username, "tokens": revoked, "reason": reason}
        append(session, AuditEvent(actor.username, "auth.token.revoke", username, entry))
    return revoked


def _managed(session: Session, who: Actor, username: str) -> User:
    user = visible_user(session, who, username)
    if not may_suspend(who, user.id, user.agency_id, roles_of(session, user.id)):
        raise PermissionDeniedError(
            "only a supervisor or head of the person's agency, or a system admin, sees and "
            "revokes another person's sign-ins (your own are on your tokens page)",
            subject=username,
        )
    return user


def _tokens(session: Session, user_id: int, *, lock: bool = False) -> list[ApiToken]:
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(session.scalars(query.with_for_update() if lock else query))
