"""Agencies and networks in the browser: every one the viewer may see, with its head, people
and policy version, and for a system admin the forms that create them (the services the
CLI's ``agency create`` and ``network create`` call, which decide and audit)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.accounts import DomainBody, NameBody, NewAgency
from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError, InvalidRequestError
from facetrail.governance.authority import Permission, may
from facetrail.services import accounts
from facetrail.services.accounts import agency_domains, directory
from facetrail.web.deps import Form, Signed, Viewer, text
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

__all__ = ["domains_href", "router"]

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
    typed = {"what": what, "name": text(form, "name", default="")}
    try:
        if what == "network":
            name = NameBody.from_form(form).name
            accounts.create_network(ctx, me.principal, name)
        elif what == "agency":
            typed |= {
                "network": text(form, "network", default=""),
                "trial_days": text(form, "trial_days", default="30"),
            }
            agency = NewAgency.from_form(form)
            accounts.create_agency(
                ctx, me.principal, agency.name, agency.trial_days, agency.network
            )
            name = agency.name
        else:
            raise InvalidRequestError("create a network or an agency", subject="what")
    except FacetrailError as error:
        return _page(ctx, me, error=error, typed=typed)
    made = urlencode({"made": f"{what}:{name.strip()}"})
    return RedirectResponse(f"/agencies?{made}", status_code=303)


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


AgencyName = Annotated[str, Path(min_length=1, max_length=200)]


def domains_href(agency: str) -> str:
    return f"/agencies/{quote(agency, safe='')}/domains"


def _domains_page(
    request: Request,
    ctx: Context,
    me: Viewer,
    agency: str,
    *,
    typed: str = "",
    error: FacetrailError | None = None,
) -> Response:
    """An agency's registered e-mail domains (``agency_domains.list_domains``: whoever may read
    the agency; audited) and, for those whose role may register them, the forms."""
    found = agency_domains.list_domains(ctx, me.principal, agency)
    query = request.query_params
    message = None
    if query.get("added"):
        message = f"{query['added'][:200]} is registered: accounts of {agency} may use it."
    elif query.get("removed"):
        message = f"{query['removed'][:200]} is removed: its accounts stay, new ones need another."
    return page(
        "agency_domains.html",
        viewer=me,
        current="",
        agency=agency,
        domains=found,
        href=domains_href(agency),
        may_change=may(me.actor, Permission.MANAGE_AGENCY),
        typed=typed,
        message=message,
        error=error,
    )


@router.get("/agencies/{agency}/domains")
def domains(agency: AgencyName, request: Request, ctx: Context, me: Signed) -> Response:
    return _domains_page(request, ctx, me, agency)


@router.post("/agencies/{agency}/domains")
def change_domains(
    agency: AgencyName, request: Request, ctx: Context, me: Signed, form: Form
) -> Response:
    """Registers an e-mail domain, or removes one (``agency_domains.register_domain`` /
    ``remove_domain``: the agency's head or a system admin; the head is told; audited,
    refusals too)."""
    step = text(form, "step", max_length=10, default="")
    typed = text(form, "domain", default="")
    try:
        if step not in ("add", "remove"):
            raise InvalidRequestError("choose add or remove", subject="step")
        domain = DomainBody.from_form(form).domain.strip()
        if step == "add":
            agency_domains.register_domain(ctx, me.principal, agency, domain)
        else:
            agency_domains.remove_domain(ctx, me.principal, agency, domain)
    except FacetrailError as error:
        # Not theirs, or no such agency: the refusal page. A domain refused, or one to remove
        # that is not registered: said on the form.
        if error.code == "permission_denied" or (error.code == "not_found" and step == "add"):
            raise
        return _domains_page(request, ctx, me, agency, typed=typed, error=error)
    said = urlencode({"added" if step == "add" else "removed": domain})
    return RedirectResponse(f"{domains_href(agency)}?{said}", status_code=303)
