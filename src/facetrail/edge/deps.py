"""Request dependencies: the process's ``AppContext`` and the signed-in ``Principal``.

Programs send a named API token (``Authorization: Bearer``); browsers hold a session cookie
(HttpOnly, SameSite=Strict, Secure over TLS) and prove every state-changing request with the
``X-CSRF-Token`` header, a value derived from the session token that another site can neither
read nor compute. Either way the token is checked by
``services.signin.authentication.authenticate``, which audits its use, exactly as the CLI's saved
session is; a route whose action records the use in its own transaction (a search) takes ``Acting``
instead, which records it before the answer goes out if the action did not."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from facetrail.errors import NotLoggedInError, TokenInvalidError
from facetrail.governance.credentials import Principal
from facetrail.services.context import AppContext
from facetrail.services.signin.authentication import (
    TokenUse,
    authenticate,
    check_token,
    finish_use,
    recent_token,
)

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Acting",
    "Caller",
    "Context",
    "Me",
    "app_context",
    "bearer_of",
    "context",
    "csrf_token",
    "drop_session_cookies",
    "set_session_cookies",
    "signed_in",
    "signed_in_acting",
]

SESSION_COOKIE = "facetrail_session"
CSRF_COOKIE = "facetrail_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def app_context(request: Request) -> AppContext:
    """The worker's open context."""
    ctx: AppContext = request.app.state.ctx
    return ctx


async def context(request: Request) -> AppContext:
    """``app_context`` as a dependency (async: reading it needs no thread of the pool)."""
    return app_context(request)


def csrf_token(session_token: str) -> str:
    """The CSRF value that goes with a session cookie (shown to the page, never stored)."""
    return hashlib.sha256(b"facetrail-csrf\x00" + session_token.encode()).hexdigest()[:40]


def set_session_cookies(request: Request, response: Response, session_token: str) -> str:
    """Give a browser its session: the token in an HttpOnly, SameSite=Strict cookie (Secure
    over TLS) and the CSRF value in a cookie the page can read. Returns the CSRF value."""
    secure = request.url.scheme == "https"
    csrf = csrf_token(session_token)
    response.set_cookie(
        SESSION_COOKIE, session_token, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.set_cookie(CSRF_COOKIE, csrf, samesite="strict", secure=secure, path="/")
    return csrf


def drop_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def signed_in(request: Request, ctx: Annotated[AppContext, Depends(context)]) -> Principal:
    """The caller, from a bearer token or the session cookie (with its CSRF proof)."""
    return authenticate(ctx, _token_of(request))


@dataclass(frozen=True)
class Caller:
    """The signed-in caller of a route whose action records the token's use itself: pass
    ``use`` to the service, which records it in the action's own transaction."""

    principal: Principal
    use: TokenUse


async def signed_in_acting(
    request: Request, ctx: Annotated[AppContext, Depends(context)]
) -> AsyncIterator[Caller]:
    """``signed_in`` for a route whose service records the token's use in its action
    (``services.signin.authentication.TokenUse``): the token is pre-checked here (``check_token``).
    Once the route has returned or raised, and before the answer goes out, a use its action
    did not record (a refusal, an upload refused before the action) is recorded on its own.
    Async, so that a token the worker read recently costs no trip through the thread pool;
    what reads or writes the database runs in the pool."""
    token = _token_of(request)
    known = recent_token(ctx, token)
    if known is None:
        known = await run_in_threadpool(check_token, ctx, token)
    principal, use = known
    try:
        yield Caller(principal, use)
    finally:
        if use.recorded:
            finish_use(ctx, use)  # nothing to write: it only forgets a token gone bad
        else:
            await run_in_threadpool(finish_use, ctx, use)


def _token_of(request: Request) -> str:
    """The bearer token, else the session cookie's (with its CSRF proof)."""
    token = bearer_of(request)
    if token is not None:
        return token
    token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        raise NotLoggedInError(
            "sign in (POST /api/v1/session) or send 'Authorization: Bearer TOKEN'",
            subject="session",
        )
    sent = request.headers.get(CSRF_HEADER, "")
    if request.method not in _SAFE and not hmac.compare_digest(
        sent.encode(), csrf_token(token).encode()
    ):
        # Checked before the token is used, so a forged request is not an audited use.
        raise TokenInvalidError(
            f"missing or wrong {CSRF_HEADER} header for a cookie session", subject="csrf"
        )
    return token


Context = Annotated[AppContext, Depends(context)]
Me = Annotated[Principal, Depends(signed_in)]
#: The caller of a route whose action records the token's use (the answer waits for it).
Acting = Annotated[Caller, Depends(signed_in_acting, scope="function")]
