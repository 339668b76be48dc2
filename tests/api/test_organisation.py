"""Accounts, enrolment and policy over the API, as the people involved act."""

from __future__ import annotations

from sqlalchemy import select

from facetrail.governance.credentials import totp_now
from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import PASSWORD, mailed_invite

pytestmark = needs_lfw


def _last_kind(world: World) -> str:
    with world.ctx.sessions() as s:
        return str(
            s.scalar(
                select(AuditEntryRow.kind)
                .where(AuditEntryRow.kind != "row.seal")
                .order_by(AuditEntryRow.seq.desc())
            )
        )


def test_granted_account_enrols_with_the_mailed_code_and_signs_in(world: World) -> None:
    head = world.as_("head")
    granted = world.client.post(
        "/api/v1/accounts",
        json={
            "username": "nina",
            "email": "nina@county.example",
            "password": PASSWORD,
            "agency": "county",
            "roles": ["investigator"],
        },
        headers=head,
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["totp_secret"] is None  # only its owner will ever see it
    # Without the code mailed to nina, whoever knows the password cannot enrol in her name.
    stolen = world.client.post("/api/v1/enrolment", json={"username": "nina", "password": PASSWORD})
    assert stolen.status_code in (401, 403) and _last_kind(world) == "auth.enrol.begin.refused"
    invite = mailed_invite(world.ctx, "nina")
    shown = world.client.post(
        "/api/v1/enrolment", json={"username": "nina", "password": PASSWORD, "invite": invite}
    )
    assert shown.status_code == 200, shown.text
    secret = shown.json()["totp_secret"]
    assert shown.json()["totp_uri"].startswith("otpauth://totp/")
    confirmed = world.client.post(
        "/api/v1/enrolment/confirmation",
        json={"username": "nina", "password": PASSWORD, "code": totp_now(secret)},
    )
    assert confirmed.status_code == 201, confirmed.text
    me = world.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {confirmed.json()['token']}"}
    )
    assert me.json()["username"] == "nina"


def test_requested_account_waits_for_its_head_or_two_supervisors(world: World) -> None:
    no_domain = world.client.post(
        "/api/v1/account-requests",
        json={
            "username": "rita",
            "email": "rita@county.example",
            "password": PASSWORD,
            "agency": "county",
            "supervisor": "sam",
        },
    )
    assert no_domain.status_code == 409
    assert no_domain.json()["code"] == "agency_has_no_email_domain"
    added = world.client.post(
        "/api/v1/agencies/county/domains",
        json={"domain": "county.example"},
        headers=world.as_("head"),
    )
    assert added.status_code == 204, added.text
    asked = world.client.post(
        "/api/v1/account-requests",
        json={
            "username": "rita",
            "email": "rita@county.example",
            "password": PASSWORD,
            "agency": "county",
            "supervisor": "sam",
        },
    )
    assert asked.status_code == 201 and asked.json()["status"] == "requested"
    # An investigator cannot approve; another agency's supervisor finds no such account.
    ivy = world.client.post("/api/v1/accounts/rita/approval", headers=world.as_("ivy"))
    assert ivy.status_code == 403 and _last_kind(world).endswith(".refused")
    otto = world.client.post("/api/v1/accounts/rita/approval", headers=world.as_("otto"))
    assert otto.status_code in (403, 404) and _last_kind(world).endswith(".refused")
    sam = world.client.post("/api/v1/accounts/rita/approval", headers=world.as_("sam"))
    assert sam.status_code == 200 and sam.json()["status"] == "requested", sam.text
    head = world.client.post("/api/v1/accounts/rita/approval", headers=world.as_("head"))
    assert head.status_code == 200 and head.json()["status"] == "active", head.text
    assert head.json()["approvers"] == ["sam", "head"]


def test_suspension_stops_tokens_at_once(world: World) -> None:
    ian = world.as_("ian")
    assert world.client.get("/api/v1/me", headers=ian).status_code == 200
    done = world.client.post(
        "/api/v1/accounts/ian/suspension",
        json={"reason": "left the unit"},
        headers=world.as_("head"),
    )
    assert done.status_code == 204, done.text
    refused = world.client.get("/api/v1/me", headers=ian)
    assert refused.status_code in (401, 403)


def test_policy_history_and_amendment(world: World) -> None:
    head = world.as_("head")
    before = world.client.get("/api/v1/agencies/county/policy", headers=head).json()
    amended = world.client.patch(
        "/api/v1/agencies/county/policy",
        json={
            "changes": {"daily_limit": before["policy"]["daily_limit"] + 5},
            "reason": "busier month ahead",
        },
        headers=head,
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["version"] == before["version"] + 1
    assert amended.json()["weakened"]  # raising the limit relaxes the policy, and says so
    history = world.client.get("/api/v1/agencies/county/policy/history", headers=head).json()
    assert history["items"][-1]["version"] == amended.json()["version"]
    # Another agency's policy does not exist for an outsider; the refusal is audited.
    olga = world.client.get("/api/v1/agencies/county/policy", headers=world.as_("olga"))
    assert olga.status_code == 404 and _last_kind(world).endswith(".refused")
    ivy = world.client.patch(
        "/api/v1/agencies/county/policy",
        json={"changes": {"daily_limit": 1000}, "reason": "I want more"},
        headers=world.as_("ivy"),
    )
    assert ivy.status_code in (403, 404) and _last_kind(world).endswith(".refused")


def test_a_person_changes_their_password_and_their_tokens_end(world: World) -> None:
    ian = world.as_("ian")
    # ian signed in with this step's TOTP code: a one-time recovery code is his second factor.
    code = world.org.enrolments["ian"].recovery_codes[0]
    weak = world.client.post(
        "/api/v1/password",
        json={"username": "ian", "password": PASSWORD, "code": code, "new_password": "short"},
    )
    assert weak.status_code == 422 and _last_kind(world) == "account.password.refused"
    changed = world.client.post(
        "/api/v1/password",
        json={
            "username": "ian",
            "password": PASSWORD,
            "code": code,
            "new_password": "a much longer new password for ian",
        },
    )
    assert changed.status_code == 204, changed.text
    assert world.client.get("/api/v1/me", headers=ian).status_code == 401
