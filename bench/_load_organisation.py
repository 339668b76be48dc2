"""The organisation of ``load_search.py``, made through the services as people would make it:
the first system admin; an agency whose policy lets it search the benchmark gallery without
prior approval; one investigator per load client, each enrolling their own second factor with
the code mailed to them (read from the mail pickup folder, as ``scripts/mailed_invite.py``
reads it) and taking a named API token for the load tool."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from facetrail.governance.credentials import Principal, Role, totp_now
from facetrail.services import accounts
from facetrail.services.accounts import NewAccount
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.oversight.policy import amend_policy
from facetrail.services.signin.authentication import issue_token, login
from facetrail.services.signin.enrolment import begin_enrolment, confirm_enrolment

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "load benchmark password"
AGENCY = "bench-county"
CASE = "2026-004711"
OFFENSE = "armed-robbery"
JUSTIFICATION = "Load benchmark: armed robbery, suspect photographed by the lobby camera."
#: The most the policy allows; each investigator's own count is what is limited.
DAILY_LIMIT = 10_000
#: A TOTP code is accepted once: a second sign-in steps to the next 30-second code.
TOTP_STEP = timedelta(seconds=30)


def first_admin(ctx: AppContext) -> Principal:
    """``facetrail init``'s system admin, signed in with password and TOTP."""
    enrolment = accounts.init_system(ctx, NewAccount("root", "root@ops.example", PASSWORD, "ops"))
    assert enrolment.totp_secret is not None
    return login(ctx, "root", PASSWORD, totp_now(enrolment.totp_secret)).principal


def searching_agency(
    ctx: AppContext,
    admin: Principal,
    gallery: str,
    investigators: int,
    advance: Callable[[int], None],
) -> list[str]:
    """The agency, its policy (``gallery`` searchable without approval, the highest daily
    limit) and ``investigators`` investigators -> one named API token each."""
    accounts.create_agency(ctx, admin, AGENCY)
    changes = {"galleries": [gallery], "approval": "never", "daily_limit": DAILY_LIMIT}
    amend_policy(ctx, admin, AGENCY, changes, "load benchmark: searches without prior approval")
    tokens = []
    for number in range(1, investigators + 1):
        username = f"investigator{number:02d}"
        account = NewAccount(
            username, f"{username}@{AGENCY}.example", PASSWORD, AGENCY, (Role.INVESTIGATOR,)
        )
        accounts.create_user(ctx, admin, account)
        tokens.append(_enrolled_token(ctx, username))
        advance(1)
    return tokens


def _enrolled_token(ctx: AppContext, username: str) -> str:
    """The owner's first sign-in with the code mailed to them, then a named API token."""
    assert ctx.settings.mail_dir is not None, "the organisation needs a mail pickup folder"
    invite = mailed_invite(ctx.settings.mail_dir, username)
    shown = begin_enrolment(ctx, username, PASSWORD, invite=invite)
    assert shown.totp_secret is not None
    now = utc_now()
    signed_in = confirm_enrolment(
        ctx, username, PASSWORD, totp_now(shown.totp_secret, at=now.timestamp()), now=now
    )
    later = now + TOTP_STEP
    return issue_token(
        ctx,
        signed_in.principal,
        "load-benchmark",
        days=1,
        password=PASSWORD,
        code=totp_now(shown.totp_secret, at=later.timestamp()),
        now=later,
    ).token


def mailed_invite(mail_dir: Path, username: str) -> str:
    """The enrolment code mailed to ``username``, read by ``scripts/mailed_invite.py``."""
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "mailed_invite.py"), str(mail_dir), username],
        capture_output=True,
        text=True,
        check=True,
    )
    code = done.stdout.strip()
    if not code:
        raise SystemExit(f"no enrolment code was mailed to {username} in {mail_dir}")
    return code
