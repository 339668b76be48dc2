"""Access is granted, never claimed (issue 2/6): accounts, approval, MFA, tokens, lockout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from facetrail.config import Settings
from facetrail.errors import (
    AccountExistsError,
    AccountInactiveError,
    AuthError,
    InvalidRequestError,
    NotFoundError,
    TokenInvalidError,
)
from facetrail.governance.credentials import Role, totp_now
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount, Principal
from facetrail.services.accounts.account_approval import approve_account
from facetrail.services.accounts.agency_domains import register_domain
from facetrail.services.context import AppContext
from facetrail.services.signin import authentication as auth
from facetrail.store.schema import ApiToken, AuditEntryRow, User
from tests.org import enrol, enrolled, next_code, sign_in

PASSWORD = "correct horse battery"


@pytest.fixture()
def ctx(tmp_path: Path):  # type: ignore[no-untyped-def]
    context = AppContext.open(Settings(home=tmp_path / "home"))
    yield context
    context.close()


def _login(ctx: AppContext, enrolment: acc.Enrolment) -> auth.LoginResult:
    return sign_in(ctx, enrolment)


def _audit(ctx: AppContext, kind: str) -> list[AuditEntryRow]:
    with ctx.sessions() as s:
        query = select(AuditEntryRow).where(AuditEntryRow.kind == kind)
        return list(s.scalars(query.order_by(AuditEntryRow.seq)))


@pytest.fixture()
def org(ctx: AppContext) -> dict[str, acc.Enrolment]:
    """System admin; agencies A and B each with a head and a supervisor."""
    admin_e = acc.init_system(ctx, NewAccount("root", "root@ops", PASSWORD, "operators"))
    admin = _login(ctx, admin_e).principal
    people = {"root": admin_e}
    for agency in ("county-a", "county-b"):
        acc.create_agency(ctx, admin, agency)
        head = NewAccount(
            f"head-{agency}", "h@x", PASSWORD, agency, (Role.AGENCY_HEAD, Role.SUPERVISOR)
        )
        people[f"head-{agency}"] = enrolled(ctx, acc.create_user(ctx, admin, head))
        sup = NewAccount(f"sup-{agency}", "s@x", PASSWORD, agency, (Role.SUPERVISOR,))
        people[f"sup-{agency}"] = enrolled(ctx, acc.create_user(ctx, admin, sup))
        register_domain(ctx, admin, agency, agency.removeprefix("county-"))
    return people


def _as(ctx: AppContext, people: dict[str, acc.Enrolment], name: str) -> Principal:
    return _login(ctx, people[name]).principal


def test_init_only_once_and_secrets_are_hashed(
    ctx: AppContext, org: dict[str, acc.Enrolment]
) -> None:
    with pytest.raises(AccountExistsError):
        acc.init_system(ctx, NewAccount("root2", "r@x", PASSWORD, "operators"))
    token = _login(ctx, org["root"]).token
    with ctx.sessions() as s:
        user = s.scalar(select(User).where(User.username == "root"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert token not in {t.token_hash for t in s.scalars(select(ApiToken))}
    assert (ctx.settings.home / "keys" / "audit-log.vkey").exists()


def test_request_approve_login_with_totp(ctx: AppContext, org: dict[str, acc.Enrolment]) -> None:
    req = acc.request_account(
        ctx,
        NewAccount(
            "ivy", "ivy@a", PASSWORD, "county-a", account_type="trial", supervisor="sup-county-a"
        ),
    )
    assert req.status == "requested" and req.totp_secret is None  # enrolled by ivy herself
    with pytest.raises(AuthError) as waiting:
        enrol(ctx, "ivy")  # does nothing until approved (and says no more than for a stranger)
    assert waiting.value.code == "auth_failed"
    assert json.loads(_audit(ctx, "auth.enrol.begin.refused")[-1].details)["reason"] == (
        "not_approved"
    )
    waits = approve_account(ctx, _as(ctx, org, "sup-county-a"), "ivy")
    assert waits.status == "requested"  # one supervisor alone never makes an account
    with pytest.raises(AuthError):
        enrol(ctx, "ivy")
    done = approve_account(ctx, _as(ctx, org, "head-county-a"), "ivy")
    assert done.status == "active" and done.approvers == ("sup-county-a", "head-county-a")
    _, result = enrol(ctx, "ivy")
    principal = auth.authenticate(ctx, result.token)
    assert principal.username == "ivy" and principal.has(Role.INVESTIGATOR)
    with pytest.raises(AuthError):
        auth.login(ctx, "ivy", PASSWORD, "000000")  # the second factor is required
    assert _audit(ctx, "account.approval")[0].actor == "sup-county-a"
    assert _audit(ctx, "account.approve")[0].actor == "head-county-a"
    assert len(_audit(ctx, "auth.token.use")) == 1


def test_self_and_cross_agency_approval_are_refused_and_audited(
    ctx: AppContext, org: dict[str, acc.Enrolment]
) -> None:
    acc.request_account(
        ctx,
        NewAccount(
            "sam", "s@a", PASSWORD, "county-a", (Role.INVESTIGATOR,), supervisor="sup-county-a"
        ),
    )
    sam_admin = acc.create_user(
        ctx,
        _as(ctx, org, "root"),
        NewAccount("sup2-county-a", "x@a", PASSWORD, "county-a", (Role.SUPERVISOR,)),
    )
    # Another agency's people answer as not found (never "not your agency").
    with pytest.raises(NotFoundError, match="no such user"):
        approve_account(ctx, _as(ctx, org, "sup-county-b"), "sam")
    # A supervisor's own pending request cannot be approved by themself.
    acc.request_account(
        ctx,
        NewAccount(
            "self", "s@a", PASSWORD, "county-a", (Role.SUPERVISOR,), supervisor="sup-county-a"
        ),
    )
    with ctx.sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == "self"))
    assert uid is not None
    agency_id = _as(ctx, org, "sup-county-a").agency_id
    # "self" cannot log in yet (not approved); act as them directly at the service door.
    self_principal = Principal(uid, "self", agency_id, "county-a", frozenset({"supervisor"}))
    with pytest.raises(AccountInactiveError, match="requested"):
        approve_account(ctx, self_principal, "self")
    refused = _audit(ctx, "account.approve.refused")
    assert [(r.actor, r.subject) for r in refused] == [("sup-county-b", "sam"), ("self", "self")]
    assert sam_admin.status == "active"


def test_suspended_users_token_is_refused_and_audited(
    ctx: AppContext, org: dict[str, acc.Enrolment]
) -> None:
    e = enrolled(
        ctx,
        acc.create_user(
            ctx, _as(ctx, org, "head-county-a"), NewAccount("dan", "d@a", PASSWORD, "county-a")
        ),
    )
    token = _login(ctx, e).token
    auth.authenticate(ctx, token)
    with pytest.raises(NotFoundError):  # another agency's person answers as not found
        acc.suspend_account(ctx, _as(ctx, org, "sup-county-b"), "dan", "not theirs")
    acc.suspend_account(ctx, _as(ctx, org, "sup-county-a"), "dan", "misuse alert")
    with pytest.raises(AccountInactiveError, match="suspended"):
        auth.authenticate(ctx, token)
    refused = _audit(ctx, "auth.token.refused")
    assert refused and refused[-1].actor == "dan"
    with pytest.raises(TokenInvalidError):
        auth.authenticate(ctx, "ft_forged")


def test_lockout_recovery_codes_and_trial_expiry(
    ctx: AppContext, org: dict[str, acc.Enrolment]
) -> None:
    e = enrolled(
        ctx,
        acc.create_user(
            ctx,
            _as(ctx, org, "root"),
            NewAccount("tia", "t@a", PASSWORD, "county-a", account_type="trial"),
        ),
    )
    for _ in range(auth.MAX_FAILED_LOGINS):
        with pytest.raises(AuthError):
            auth.login(ctx, "tia", "wrong password!!", totp_now(e.totp_secret))
    with pytest.raises(AuthError) as locked:
        _login(ctx, e)  # the right password and code, locked out: told as a wrong one
    assert locked.value.code == "auth_failed"
    assert json.loads(_audit(ctx, "auth.login.failed")[-1].details)["reason"] == "locked"
    later = datetime.now(UTC) + auth.LOCKOUT + timedelta(seconds=1)
    code = e.recovery_codes[0]
    auth.login(ctx, "tia", PASSWORD, code, now=later)
    assert json.loads(_audit(ctx, "auth.login")[-1].details) == {"mfa": "recovery_code"}
    with pytest.raises(AuthError):
        auth.login(ctx, "tia", PASSWORD, code, now=later)  # recovery codes work once
    # Trials granted directly get no expiry; approved trials expire after the agency's days.
    req = acc.request_account(
        ctx,
        NewAccount(
            "trey", "t@a", PASSWORD, "county-a", account_type="trial", supervisor="sup-county-a"
        ),
    )
    approve_account(ctx, _as(ctx, org, "head-county-a"), "trey")
    req, _ = enrol(ctx, "trey")  # within the trial
    assert req.totp_secret is not None
    month = datetime.now(UTC) + timedelta(days=31)
    with pytest.raises(AccountInactiveError, match="trial expired"):
        auth.login(
            ctx, "trey", PASSWORD, totp_now(req.totp_secret, at=month.timestamp()), now=month
        )


def test_api_tokens_expire_and_are_revoked(ctx: AppContext, org: dict[str, acc.Enrolment]) -> None:
    head = _as(ctx, org, "head-county-a")
    secret = org["head-county-a"].totp_secret
    assert secret is not None
    code, at = next_code(secret)
    issued = auth.issue_token(
        ctx, head, "nightly report", days=2, password=PASSWORD, code=code, now=at
    )
    assert auth.authenticate(ctx, issued.token).username == "head-county-a"
    with ctx.sessions() as s:
        stored = s.scalars(select(ApiToken.token_hash).where(ApiToken.name == "nightly report"))
        assert issued.token not in list(stored)  # only its hash is kept
    with pytest.raises(TokenInvalidError, match="expired"):
        auth.authenticate(ctx, issued.token, now=datetime.now(UTC) + timedelta(days=3))
    auth.revoke_token(ctx, head, issued.token)
    with pytest.raises(TokenInvalidError, match="revoked"):
        auth.authenticate(ctx, issued.token)
    with pytest.raises(InvalidRequestError):
        auth.issue_token(ctx, head, "forever", days=3650, password=PASSWORD, code=code)
    assert _audit(ctx, "auth.token.issue") and _audit(ctx, "auth.token.revoke")
