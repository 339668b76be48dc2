"""People's accounts and the organisation: networks, agencies, accounts granted or requested,
approval, roles, suspension and reinstatement, resets, and first-time TOTP enrolment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import Field

from facetrail.edge import limits
from facetrail.edge.bodies.accounts import (
    AccountBody,
    DomainBody,
    EnrolBegin,
    EnrolConfirm,
    NameBody,
    NewAgency,
    PasswordChange,
    ReasonBody,
    RequestBody,
    RolesBody,
)
from facetrail.edge.deps import Context, Me
from facetrail.services import accounts
from facetrail.services.accounts import Enrolment, NewAccount, account_approval, agency_domains
from facetrail.services.accounts.account_approval import ApprovalState
from facetrail.services.signin import enrolment
from facetrail.services.signin.enrolment import OneTimePassword
from facetrail.services.views import plain

router = APIRouter(tags=["accounts"])

Username = Annotated[str, Path(min_length=1, max_length=200)]
Short = Annotated[str, Field(min_length=1, max_length=200)]
Secret = Annotated[str, Field(min_length=1, max_length=1000)]
Reason = Annotated[str, Field(max_length=2000)]


def _account(body: AccountBody | RequestBody) -> NewAccount:
    if isinstance(body, RequestBody):
        return NewAccount(
            body.username, body.email, body.password, body.agency, supervisor=body.supervisor
        )
    return NewAccount(
        body.username,
        body.email,
        body.password,
        body.agency,
        tuple(body.roles),
        body.account_type,
    )


@router.post("/networks", status_code=status.HTTP_204_NO_CONTENT, summary="Create a network")
def create_network(body: NameBody, ctx: Context, me: Me) -> Response:
    accounts.create_network(ctx, me, body.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/agencies", status_code=status.HTTP_204_NO_CONTENT, summary="Create an agency")
def create_agency(body: NewAgency, ctx: Context, me: Me) -> Response:
    accounts.create_agency(ctx, me, body.name, body.trial_days, body.network)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/accounts",
    status_code=status.HTTP_201_CREATED,
    response_model=Enrolment,
    summary="Grant an account (its owner enrols with a code mailed to them alone)",
)
def create_account(body: AccountBody, ctx: Context, me: Me) -> Enrolment:
    return accounts.create_user(ctx, me, _account(body))


@router.post(
    "/account-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=Enrolment,
    summary="Ask for an account (no sign-in; its head or two supervisors approve it)",
)
def request_account(body: RequestBody, ctx: Context) -> Enrolment:
    """The same answer whether or not the username is free and the named supervisor is an
    active supervisor of the agency (the agency's head is told when a request is not passed
    on); until it is approved, signing in as the account answers as for a wrong password."""
    return accounts.request_account(ctx, _account(body))


@router.post(
    "/accounts/{username}/approval",
    response_model=ApprovalState,
    summary="Approve a requested account (its head's approval, or two people's, activate it)",
)
def approve(username: Username, ctx: Context, me: Me) -> ApprovalState:
    """``status`` says whether it is active now or waits for a second approval."""
    return account_approval.approve_account(ctx, me, username)


@router.get("/agencies/{agency}/domains", summary="An agency's registered e-mail domains")
def list_domains(agency: Username, ctx: Context, me: Me) -> list[str]:
    return agency_domains.list_domains(ctx, me, agency)


@router.post(
    "/agencies/{agency}/domains",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Register an e-mail domain (its head or a system admin)",
)
def register_domain(agency: Username, body: DomainBody, ctx: Context, me: Me) -> Response:
    agency_domains.register_domain(ctx, me, agency, body.domain)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/agencies/{agency}/domains/{domain}", status_code=status.HTTP_204_NO_CONTENT)
def remove_domain(agency: Username, domain: Username, ctx: Context, me: Me) -> Response:
    """Remove an e-mail domain (its accounts stay; new ones need another)."""
    agency_domains.remove_domain(ctx, me, agency, domain)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/accounts/{username}/roles", status_code=status.HTTP_204_NO_CONTENT)
def set_roles(username: Username, body: RolesBody, ctx: Context, me: Me) -> Response:
    """Replace the account's roles (who may grant which is decided in one place)."""
    accounts.set_roles(ctx, me, username, tuple(body.roles))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/accounts/{username}/suspension", status_code=status.HTTP_204_NO_CONTENT)
def suspend(username: Username, body: ReasonBody, ctx: Context, me: Me) -> Response:
    """Suspend: its tokens stop working at once."""
    accounts.suspend_account(ctx, me, username, body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/accounts/{username}/reinstatement", status_code=status.HTTP_204_NO_CONTENT)
def reinstate(username: Username, body: ReasonBody, ctx: Context, me: Me) -> Response:
    enrolment.reinstate_account(ctx, me, username, body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/accounts/{username}/password-reset",
    response_model=OneTimePassword,
    summary="A one-time password for the person (it only lets them set their own)",
)
def reset_password(username: Username, body: ReasonBody, ctx: Context, me: Me) -> OneTimePassword:
    return enrolment.reset_password(ctx, me, username, body.reason)


@router.post("/accounts/{username}/second-factor-reset", status_code=status.HTTP_204_NO_CONTENT)
def reset_second_factor(username: Username, body: ReasonBody, ctx: Context, me: Me) -> Response:
    """Delete the second factor; the owner enrols anew with a code mailed to them alone."""
    enrolment.reset_second_factor(ctx, me, username, body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/enrolment",
    response_model=Enrolment,
    summary="First sign-in: show the owner a new TOTP secret (not active until confirmed)",
)
def begin_enrolment(body: EnrolBegin, ctx: Context) -> Enrolment:
    return enrolment.begin_enrolment(ctx, body.username, body.password, invite=body.invite)


@router.post(
    "/enrolment/confirmation",
    status_code=status.HTTP_201_CREATED,
    summary="Confirm the TOTP secret with a code; signs in (bearer token in the answer)",
)
def confirm_enrolment(body: EnrolConfirm, ctx: Context) -> dict[str, Any]:
    result = enrolment.confirm_enrolment(
        ctx, body.username, body.password, body.code, new_password=body.new_password
    )
    return {"token": result.token, "expires_at": result.expires_at, "user": plain(result.principal)}


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password (with the current or a one-time one, and a code)",
)
def change_password(body: PasswordChange, request: Request, ctx: Context) -> Response:
    """Needs no session (a one-time password from a reset gives none): the password and
    second factor are checked as a sign-in, and count towards the lockout; every token of the
    person is revoked. Rate-limited like a sign-in. Audited, refusals too."""
    limits.check(request, ctx, "login", body.username, "account.password")
    enrolment.change_password(ctx, body.username, body.password, body.code, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
