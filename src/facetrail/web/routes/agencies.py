"""Agencies and networks in the browser: every one the viewer may see, with its head, people
and policy version, and for a system admin the forms that create them (the services the
CLI's ``agency create`` and ``network create`` call, which decide and audit)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.api.deps import Context
from facetrail.errors import FacetrailError, InvalidRequestError
from facetrail.governance.authority import Permission, may
from facetrail.services import accounts
from facetrail.services.accounts import directory
from facetrail.web.deps import Form, Signed, Viewer, text
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

__all__ = ["router"]

router = APIRouter(route_class=WebRoute)


@router.get("/agencies")
def agencies(request: Request, ctx: Context, me: Signed) -> Response:
    """The agencies and networks the viewer may see (``directory.list_agencies`` and
    ``list_networks``: any active account; each audited)."""
    made = request.query_params.get("made", "")[:200]
    return _page(ctx, me, made=made or None)


@router.post("/agencies")
def create(ctx: Context, me: Signed, form: Form) -> Response:
    """Create a network or an agency (``accounts.create_network`` / ``create_agency``: system
    admins; audited, refusals too)."""
    what = text(form, "what", max_length=10, default="")
    name = text(form, "name", max_length=200, default="").strip()
    typed: dict[str, str] = {"what": what, "name": name}
    try:
        if what == "network":
            accounts.create_network(ctx, me.principal, name)
        elif what == "agency":
            network = text(form, "network", max_length=200, default="").strip() or None
            days = text(form, "trial_days", max_length=6, default="30").strip()
            typed |= {"network": network or "", "trial_days": days}
            if not days.isdigit():
                raise InvalidRequestError(
                    "trials last a whole number of days", subject="trial_days"
                )
            accounts.create_agency(ctx, me.principal, name, int(days), network)
        else:
            raise InvalidRequestError("create a network or an agency", subject="what")
    except FacetrailError as error:
        return _page(ctx, me, error=error, typed=typed)
    return RedirectResponse(f"/agencies?made={what}:{name}", status_code=303)


def _page(
    ctx: Context,
    me: Viewer,
    *,
    made: str | None = None,
    error: FacetrailError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    return page(
        "agencies.html",
        viewer=me,
        current="/agencies",
        agencies=directory.list_agencies(ctx, me.principal),
        networks=directory.list_networks(ctx, me.principal),
        creates=may(me.actor, Permission.MANAGE_ORGANISATION),
        made=made,
        error=error,
        typed=typed or {},
    )
