"""What the account actions are sent: networks and agencies made, accounts granted or
requested, roles, suspensions and resets with their reason, e-mail domains, first-time
enrolment, password changes, signing in and API tokens."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from facetrail.edge.bodies import Body
from facetrail.governance.credentials import Role

__all__ = [
    "AccountBody",
    "DomainBody",
    "EnrolBegin",
    "EnrolConfirm",
    "InviteBody",
    "NameBody",
    "NewAgency",
    "NewToken",
    "PasswordChange",
    "ReasonBody",
    "RequestBody",
    "RolesBody",
    "SignIn",
    "TokenRef",
]

Short = Annotated[str, Field(min_length=1, max_length=200)]
Secret = Annotated[str, Field(min_length=1, max_length=1000)]
Code = Annotated[str, Field(min_length=1, max_length=64, description="TOTP or recovery code")]
Email = Annotated[str, Field(min_length=3, max_length=320)]


class NameBody(Body):
    name: Short


class NewAgency(Body):
    name: Short
    #: as a policy allows (``governance.policy``: 1..365), said before anything is written
    trial_days: Annotated[int, Field(ge=1, le=365)] = 30
    network: Short | None = None


class AccountBody(Body):
    username: Short
    email: Email
    password: Secret
    agency: Short
    roles: Annotated[list[Role], Field(default_factory=lambda: [Role.INVESTIGATOR])]
    account_type: Literal["full", "trial"] = "full"


class InviteBody(Body):
    """An account granted with a one-time password for the granter to hand over (the web's
    "Add a person", ``signin.invitations``): no password is sent. No agency: the granter's
    own; no role: refused by the service, never a default the granter did not choose."""

    username: Short
    email: Email
    agency: Short | None = None
    roles: Annotated[list[Role], Field(default_factory=list)]
    account_type: Literal["full", "trial"] = "full"


class RequestBody(Body):
    username: Short
    email: Email
    password: Secret
    agency: Short
    supervisor: Short


class RolesBody(Body):
    roles: list[Role]


class ReasonBody(Body):
    reason: Annotated[str, Field(max_length=2000)]


class DomainBody(Body):
    domain: Short


class EnrolBegin(Body):
    username: Short
    password: Secret
    invite: Annotated[str | None, Field(max_length=200)] = None


class PasswordChange(Body):
    username: Short
    password: Secret
    code: Code
    new_password: Secret


class EnrolConfirm(Body):
    username: Short
    password: Secret
    code: Code
    new_password: Annotated[str | None, Field(max_length=1000)] = None


class SignIn(Body):
    username: Short
    password: Secret
    code: Code
    #: "cookie" for a browser (HttpOnly session cookie + CSRF value), "bearer" for a program
    session: Literal["cookie", "bearer"] = "cookie"


class NewToken(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    days: Annotated[int, Field(ge=1, le=90)] = 30
    password: Secret
    code: Code


class TokenRef(Body):
    token: Short
