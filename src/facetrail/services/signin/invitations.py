"""Adding a person with a one-time password: the granter hands it over, and the enrolment
code goes to the owner alone, so the granter never knows the password in use nor the second
factor (the web's "Add a person")."""

from __future__ import annotations

import secrets

from facetrail.governance.credentials import Principal, Role
from facetrail.services.accounts import NewAccount, create_user
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.signin.enrolment import ONE_TIME_PASSWORD_LIFETIME, OneTimePassword

__all__ = ["invite_account"]


def invite_account(
    ctx: AppContext,
    actor: Principal,
    username: str,
    email: str,
    agency: str,
    roles: tuple[Role, ...],
    *,
    trial: bool = False,
) -> OneTimePassword:
    """An account granted as ``accounts.create_user`` grants it, with a one-time password for
    the granter to hand over (good for 72 hours, only to set the owner's own password) and the
    enrolment code mailed to the owner alone: the granter never knows the password in use
    nor the second factor. Authorisation and audit as ``create_user`` (``account.create``)."""
    one_time = secrets.token_urlsafe(15)
    expires = utc_now() + ONE_TIME_PASSWORD_LIFETIME
    account = NewAccount(username, email, one_time, agency, roles, "trial" if trial else "full")
    create_user(ctx, actor, account, password_expires_at=expires)
    return OneTimePassword(username, one_time, expires.isoformat())
