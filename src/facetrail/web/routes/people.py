"""Administering people in the browser: adding a person with a one-time password to hand over,
and one account's page with its role changes, suspension, reinstatement and credential resets.
Each form calls the service the API and CLI call (``accounts``, ``signin.enrolment``), which
decides and audits; a page only offers what the authority module says the viewer's roles may
do at all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.bodies.accounts import InviteBody, ReasonBody, RolesBody
from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError, InvalidRequestError
from facetrail.governance.authority import Permission, may, may_grant, may_suspend
from facetrail.governance.credentials import Role
from facetrail.services import accounts
from facetrail.services.accounts import directory
from facetrail.services.signin import enrolment, invitations
from facetrail.web.deps import Form, Signed, Viewer, text, texts
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

__all__ = ["ROLE_LABELS", "router"]

router = APIRouter(route_class=WebRoute)

Username = Annotated[str, Path(min_length=1, max_length=100)]
#: Roles in words, as pages show them.
ROLE_LABELS = {
    Role.INVESTIGATOR.value: "investigator",
    Role.SUPERVISOR.value: "supervisor",
    Role.AGENCY_HEAD.value: "agency head",
    Role.AUDITOR.value: "auditor",
    Role.GALLERY_ADMIN.value: "gallery admin",
    Role.NETWORK_OPERATOR.value: "network operator",
    Role.SYSTEM_ADMIN.value: "system admin",
    Role.PRIVACY_OFFICER.value: "privacy officer",
}
_STEPS = ("roles", "suspend", "reinstate", "password", "second_factor")
#: A page showing a one-time password is kept by no cache and no history.
_NO_STORE = {"Cache-Control": "no-store"}


def grantable(me: Viewer) -> list[Role]:
    """The roles the viewer may grant in their own agency (a system admin: every role)."""
    return [r for r in Role if may_grant(me.actor, r, me.principal.agency_id)]


@router.get("/agency/people/new")
def new_person(
    ctx: Context,
    me: Signed,
    agency: Annotated[str, Query(max_length=200)] = "",
    role: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The form to add a person (``invitations.invite_account``: the agency's head, agency roles;
    a system admin, any). ``agency`` and ``role``: filled in (a new agency's head, say)."""
    roles = [role if role in ROLE_LABELS else Role.INVESTIGATOR.value]
    return _new_page(me, {"agency": agency or me.principal.agency, "roles": roles})


@router.post("/agency/people/new")
def add_person(ctx: Context, me: Signed, form: Form) -> Response:
    """Adds the account and shows the one-time password once (audited as ``account.create``,
    refusals too)."""
    typed: dict[str, object] = {
        "username": text(form, "username", default=""),
        "email": text(form, "email", default=""),
        "agency": text(form, "agency", default=me.principal.agency),
        "roles": texts(form, "roles"),
        "account_type": text(form, "account_type", default="full"),
    }
    try:
        body = InviteBody.from_form(form)
        given = invitations.invite_account(
            ctx,
            me.principal,
            body.username,
            body.email,
            body.agency or me.principal.agency,
            tuple(body.roles),
            trial=body.account_type == "trial",
        )
    except FacetrailError as error:
        if error.code == "permission_denied" and not grantable(me):
            raise
        return _new_page(me, typed, error)
    return page(
        "person_password.html",
        viewer=me,
        current="/agency/people",
        given=given,
        added=True,
        headers=_NO_STORE,
    )


@router.get("/agency/people/{username}")
def person(username: Username, request: Request, ctx: Context, me: Signed) -> Response:
    """One account with what the viewer may do to it (``directory.show_account``: audited as
    ``account.view``)."""
    done = request.query_params.get("done", "")
    return _person_page(ctx, me, username, done=done if done in _STEPS else None)


@router.post("/agency/people/{username}")
def act_on_person(username: Username, ctx: Context, me: Signed, form: Form) -> Response:
    """Change the person's roles, suspend, reinstate, or reset a credential, each with the
    service that decides and audits it (refusals too)."""
    step = text(form, "step", max_length=20, default="")
    typed = {"step": step, "reason": text(form, "reason", default="")}
    try:
        if step == "roles":
            roles = RolesBody.from_form(form).roles
            accounts.set_roles(ctx, me.principal, username, tuple(roles))
        elif step == "suspend":
            reason = ReasonBody.from_form(form).reason
            accounts.suspend_account(ctx, me.principal, username, reason)
        elif step == "reinstate":
            reason = ReasonBody.from_form(form).reason
            enrolment.reinstate_account(ctx, me.principal, username, reason)
        elif step == "password":
            reason = ReasonBody.from_form(form).reason
            given = enrolment.reset_password(ctx, me.principal, username, reason)
            return page(
                "person_password.html",
                viewer=me,
                current="/agency/people",
                given=given,
                added=False,
                headers=_NO_STORE,
            )
        elif step == "second_factor":
            if text(form, "checked", max_length=5, default="") != "yes":
                raise InvalidRequestError(
                    "confirm that you checked who is asking (in person, or by a call to a "
                    "number on file) before their second factor is reset",
                    subject="checked",
                )
            reason = ReasonBody.from_form(form).reason
            enrolment.reset_second_factor(ctx, me.principal, username, reason)
        else:
            raise InvalidRequestError("choose what to do", subject="step")
    except FacetrailError as error:
        if error.code in ("not_found",):
            raise
        return _person_page(ctx, me, username, error=error, typed=typed)
    return RedirectResponse(f"/agency/people/{username}?done={step}", status_code=303)


def _new_page(
    me: Viewer, typed: dict[str, object], error: FacetrailError | None = None
) -> Response:
    return page(
        "person_new.html",
        viewer=me,
        current="/agency/people",
        typed=typed,
        error=error,
        grantable=grantable(me),
        role_labels=ROLE_LABELS,
        any_agency=me.principal.has(Role.SYSTEM_ADMIN),
    )


def _may_suspend(me: Viewer, account: directory.AccountView) -> bool:
    """The authority module's rule for suspending (and seeing and revoking sign-ins), asked of
    a person this viewer was shown: someone of their own agency unless they are a system admin
    (``show_account`` shows no one else), never themselves (id 0: not the viewer)."""
    who = me.actor
    target = who.user_id if account.username == me.principal.username else 0
    return may_suspend(who, target, who.agency_id, account.roles)


def _person_page(
    ctx: Context,
    me: Viewer,
    username: str,
    *,
    done: str | None = None,
    error: FacetrailError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    account = directory.show_account(ctx, me.principal, username)
    who = me.actor
    return page(
        "person.html",
        viewer=me,
        current="/agency/people",
        account=account,
        done=done,
        error=error,
        typed=typed or {},
        role_labels=ROLE_LABELS,
        grantable=grantable(me),
        manages=_may_suspend(me, account),
        resets=may(who, Permission.MANAGE_AGENCY) and username != me.principal.username,
    )
