"""Another person's sign-ins and API tokens in the browser, for those who may suspend them: the
list (ids, names and dates, never the tokens) and revoking one or all with a reason, the step
short of suspension. Each calls the service the API and CLI call (``signin.access``), which
decides and audits, refusals too."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.access import AccessRevocation
from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError, PermissionDeniedError
from facetrail.services.signin import access
from facetrail.web.deps import Form, Signed, Viewer
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

__all__ = ["router"]

router = APIRouter(route_class=WebRoute)

Username = Annotated[str, Path(min_length=1, max_length=200)]


def _href(username: str) -> str:
    return f"/agency/people/{quote(username, safe='')}/access"


def _access_page(
    ctx: Context,
    me: Viewer,
    username: str,
    *,
    revoked: int | None = None,
    error: FacetrailError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    return page(
        "person_access.html",
        viewer=me,
        current="/agency/people",
        username=username,
        href=_href(username),
        person_href=f"/agency/people/{quote(username, safe='')}",
        tokens=access.tokens_of(ctx, me.principal, username),
        revoked=revoked,
        error=error,
        typed=typed or {},
        min_reason=access.MIN_REASON,
    )


@router.get("/agency/people/{username}/access")
def sign_ins(username: Username, request: Request, ctx: Context, me: Signed) -> Response:
    """The person's working sign-ins and tokens (``access.tokens_of``: audited)."""
    count = request.query_params.get("revoked", "")
    return _access_page(ctx, me, username, revoked=int(count) if count.isdigit() else None)


@router.post("/agency/people/{username}/access")
def revoke(username: Username, ctx: Context, me: Signed, form: Form) -> Response:
    """Revoke one of them (``token``) or all, with a reason they and their head read
    (``access.revoke_access``: audited, refusals too); a refusal shows on the form."""
    typed = {k: str(form.get(k) or "")[:2000] for k in ("reason", "token")}
    try:
        asked = AccessRevocation.from_form(form)
        revoked = access.revoke_access(ctx, me.principal, username, asked.reason, asked.token)
    except PermissionDeniedError:
        raise
    except FacetrailError as error:
        return _access_page(ctx, me, username, error=error, typed=typed)
    return RedirectResponse(f"{_href(username)}?revoked={len(revoked)}", status_code=303)
