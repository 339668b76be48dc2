"""Signing in and out, the signed-in user, their inbox and their named API tokens, and another
person's sign-ins as those who may suspend them see and revoke them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status

from facetrail.api.pages import Cursor, Limit, page
from facetrail.edge import limits
from facetrail.edge.bodies.access import AccessRevocation
from facetrail.edge.bodies.accounts import NewToken, SignIn, TokenRef
from facetrail.edge.deps import (
    SESSION_COOKIE,
    Context,
    Me,
    bearer_of,
    drop_session_cookies,
    set_session_cookies,
)
from facetrail.services.accounts.directory import TokenView
from facetrail.services.notifications import inbox
from facetrail.services.signin import access, authentication
from facetrail.services.views import plain

router = APIRouter(tags=["session"])

Username = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("/session", status_code=status.HTTP_201_CREATED, summary="Sign in")
def sign_in(body: SignIn, request: Request, response: Response, ctx: Context) -> dict[str, Any]:
    """Password and second factor -> a session (audited as ``auth.login`` or
    ``auth.login.failed``; wrong attempts count towards the account's lockout)."""
    limits.check(request, ctx, "login", body.username, "auth.login")
    result = authentication.login(ctx, body.username, body.password, body.code)
    out: dict[str, Any] = {"expires_at": result.expires_at, "user": plain(result.principal)}
    if body.session == "bearer":
        out["token"] = result.token
        return out
    out["csrf_token"] = set_session_cookies(request, response, result.token)
    return out


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out")
def sign_out(request: Request, me: Me, ctx: Context) -> Response:
    """Revoke the session token this request came with (audited as ``auth.token.revoke``)."""
    token = bearer_of(request) or request.cookies.get(SESSION_COOKIE, "")
    authentication.revoke_token(ctx, me, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    drop_session_cookies(response)
    return response


@router.get("/me", summary="The signed-in user")
def whoami(me: Me) -> dict[str, Any]:
    return dict(plain(me))


@router.get("/inbox", summary="Your notifications, oldest first")
def my_inbox(me: Me, ctx: Context, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    return page(inbox(ctx, me.user_id), lambda m: m.id, cursor, limit)


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Issue a named API token")
def new_token(body: NewToken, me: Me, ctx: Context) -> dict[str, Any]:
    """Shown once. Needs the password and second factor afresh (a token cannot mint tokens);
    audited as ``auth.token.issue`` or ``auth.token.issue.refused``."""
    result = authentication.issue_token(
        ctx, me, body.name, body.days, password=body.password, code=body.code
    )
    return {"name": body.name, "token": result.token, "expires_at": result.expires_at}


@router.post("/tokens/revoke", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token")
def revoke(body: TokenRef, me: Me, ctx: Context) -> Response:
    """One of your tokens (a system admin: anyone's); audited, refusals too."""
    authentication.revoke_token(ctx, me, body.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/accounts/{username}/tokens",
    response_model=list[TokenView],
    summary="Another person's working sign-ins and tokens (those who may suspend them)",
)
def tokens_of(username: Username, me: Me, ctx: Context) -> list[TokenView]:
    """Ids, names and dates, never the tokens; audited as ``auth.token.list``, refusals too."""
    return access.tokens_of(ctx, me, username)


@router.post(
    "/accounts/{username}/tokens/revoke",
    summary="Revoke one of another person's sign-ins or tokens, or all, with a reason",
)
def revoke_access(
    username: Username, body: AccessRevocation, me: Me, ctx: Context
) -> dict[str, list[str]]:
    """The account stays active (suspension is the step beyond); they and their head are
    told. Audited as ``auth.token.revoke``, refusals too."""
    return {"revoked": access.revoke_access(ctx, me, username, body.reason, body.token)}
