"""One's own API tokens and sign-in sessions in the browser: the list (each named by the start
of its hash, as the audit log names it), a new named token shown once (the password and a
fresh code asked again, as ``token create`` asks), and revoking one. Each calls the service the
CLI and API call, which decides and audits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.accounts import NewToken
from facetrail.edge.deps import SESSION_COOKIE, Context
from facetrail.errors import FacetrailError
from facetrail.governance import credentials
from facetrail.services.accounts import directory
from facetrail.services.signin import authentication
from facetrail.services.signin.tokens import TOKEN_ID_LENGTH, revoke_own_token
from facetrail.web.deps import Form, Signed, Viewer
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

__all__ = ["router"]

router = APIRouter(route_class=WebRoute)

TokenId = Annotated[str, Path(min_length=1, max_length=64)]
#: The page that shows a new token is kept by no cache and no history.
_NO_STORE = {"Cache-Control": "no-store"}


def _session_id(request: Request) -> str | None:
    """The id of the sign-in session this browser uses (revoking it signs them out)."""
    token = request.cookies.get(SESSION_COOKIE)
    return credentials.secret_hash(token)[:TOKEN_ID_LENGTH] if token else None


def _tokens_page(
    request: Request,
    ctx: Context,
    me: Viewer,
    *,
    show_all: bool = False,
    name: str = "",
    days: str = "30",
    error: FacetrailError | None = None,
    message: str | None = None,
) -> Response:
    found = directory.list_tokens(ctx, me.principal, include_inactive=show_all)
    return page(
        "tokens.html",
        viewer=me,
        current="/account/tokens",
        tokens=found,
        session_id=_session_id(request),
        show_all=show_all,
        name=name,
        days=days,
        max_days=authentication.MAX_TOKEN_DAYS,
        error=error,
        message=message,
    )


@router.get("/account/tokens")
def tokens(
    request: Request,
    ctx: Context,
    me: Signed,
    show_all: Annotated[str, Query(alias="all", max_length=5)] = "",
    revoked: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Your tokens, newest first (``directory.list_tokens``: audited as ``auth.token.list``);
    ``all``: the revoked and expired ones too."""
    message = f"Token {revoked[:TOKEN_ID_LENGTH]} revoked: it no longer works." if revoked else None
    return _tokens_page(request, ctx, me, show_all=bool(show_all), message=message)


@router.post("/account/tokens")
def create(request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """A named token for scripts and the API (``authentication.issue_token``: the password
    and a fresh code checked as a sign-in; audited), shown once on the page that answers."""
    name = str(form.get("name") or "")
    days = str(form.get("days") or "30")
    try:
        asked = NewToken.from_form(form)
        issued = authentication.issue_token(
            ctx, me.principal, asked.name, asked.days, password=asked.password, code=asked.code
        )
    except FacetrailError as error:
        return _tokens_page(request, ctx, me, name=name[:200], days=days[:10], error=error)
    return page(
        "token_issued.html",
        viewer=me,
        current="/account/tokens",
        name=asked.name,
        issued=issued,
        headers=_NO_STORE,
    )


@router.post("/account/tokens/{token_id}/revoke")
def revoke(token_id: TokenId, request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """Revoke one of your tokens (``tokens.revoke_own_token``: audited, refusals too). The
    session this browser uses is revoked like any other, and then it is signed out."""
    del form  # the CSRF value, checked by Signed
    ending_this_session = token_id == _session_id(request)
    revoke_own_token(ctx, me.principal, token_id)
    if ending_this_session:
        return RedirectResponse("/signin", status_code=303)
    return RedirectResponse(f"/account/tokens?revoked={token_id}", status_code=303)
