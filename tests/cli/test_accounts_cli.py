"""init -> login with TOTP -> whoami -> accounts -> logout, as people would type it."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest

from facetrail.config import get_settings
from facetrail.governance.credentials import totp_now
from tests.cli.terminal import OPERATORS, PASSWORD, Terminal


def test_init_login_whoami(term: Terminal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACETRAIL_ADMIN_PASSWORD")
    get_settings.cache_clear()
    out = term("init", "--admin", "root", "--email", "r@x", "--json", code=2)
    assert "password_missing" in out  # never a default
    monkeypatch.setenv("FACETRAIL_ADMIN_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    enrolment = json.loads(term("init", "--admin", "root", "--email", "r@x", "--json"))
    assert len(enrolment["recovery_codes"]) == 10
    assert "account_exists" in term("init", "--admin", "root2", "--email", "r@x", code=2)
    bad = term("login", "root", "--code", "123456", code=2)
    assert "auth_failed" in bad
    code = totp_now(enrolment["totp_secret"])
    term("login", "root", "--code", code, "--json")
    token_file = term.home / "session.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    who = term.json("whoami")
    assert who == {"username": "root", "agency": "facetrail operators", "roles": ["system_admin"]}
    # Accounts made after init carry no second factor the admin could see: their owner
    # gets the same enrolment screen at first sign-in, a QR code of the otpauth URI.
    granted = term(
        "account",
        "create",
        "gus",
        "--email",
        "g@x",
        "--agency",
        OPERATORS,
        "--role",
        "gallery_admin",
    )
    assert "otpauth" not in granted and "facetrail enrol gus --invite CODE" in granted
    # root, who set gus's password, cannot enrol for gus: the code went to gus's mail alone.
    assert "enrolment code" in " ".join(term("enrol", "gus", code=2).split())
    invite = term.invite("gus")
    assert invite is not None and invite not in granted
    shown = term("enrol", "gus", "--invite", invite)
    assert "Scan this QR code" in shown and "otpauth://totp/facetrail:gus" in shown
    qr = [line for line in shown.splitlines() if set(line) <= set("█▀▄ \xa0") and len(line) > 20]
    assert len(qr) >= 10 and len({len(line) for line in qr}) == 1  # a square block of modules
    assert "signed out root" in term("logout")
    assert not token_file.exists()
    assert "not_logged_in" in term("whoami", code=2)
    assert json.loads(term("audit", "verify", "--json"))["ok"] is True


def test_agency_accounts_and_inbox(term: Terminal, monkeypatch: pytest.MonkeyPatch) -> None:
    term.init()
    term("network", "create", "region")
    term("agency", "create", "county", "--network", "region", "--trial-days", "14")
    term.account("hana", "county", "agency_head", "supervisor")
    term.account("sam", "county", "supervisor")
    args = ["account", "create", "gus", "--email", "g@x", "--agency", "county"]
    granted = term.json(*args, "--role", "gallery_admin")
    assert isinstance(granted, dict) and granted["status"] == "active"
    assert "FACETRAIL_NEW_PASSWORD" in term("account", "create", "--help")

    # Requests come from the county's own mail domain, which its head or a system admin sets.
    term("agency", "domains", "add", "county", "x")
    assert term.json("agency", "domains", "list", "county") == ["x"]
    term("logout")
    monkeypatch.delenv("FACETRAIL_NEW_PASSWORD")
    get_settings.cache_clear()
    args = ["account", "request", "tina", "--email", "t@x", "--agency", "county"]
    assert "password_missing" in term(*args, "--supervisor", "sam", code=2)
    monkeypatch.setenv("FACETRAIL_NEW_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    asked: Any = term.json(*args, "--supervisor", "sam", "--trial")
    assert asked["status"] == "requested" and asked["totp_secret"] is None
    # Nothing until a supervisor approves, said as for a name no account holds (or a request
    # would tell a free username from a taken one).
    out = term("login", "tina", "--code", "123456", code=2)
    assert "auth_failed" in out
    assert "auth_failed" in term("login", "nobody", "--code", "123456", code=2)
    assert "auth_failed" in term("enrol", "tina", code=2)

    term.login("sam")
    assert "waits for the agency's head" in term("account", "approve", "tina")
    term.login("hana")  # one supervisor alone makes no account: the head approves too
    assert term.json("account", "approve", "tina", "--json")["status"] == "active"  # type: ignore[index]
    term.login("tina")
    assert term.json("whoami") == {
        "username": "tina",
        "agency": "county",
        "roles": ["investigator"],
    }
    assert "permission_denied" in term("account", "suspend", "sam", "--reason", "no", code=2)
    term.login("sam")
    term("account", "suspend", "tina", "--reason", "left the unit")
    term.login("hana")
    inbox: Any = term.json("inbox")
    subjects = [m["subject"] for m in inbox]
    assert "account request: tina" in subjects and "account suspended: tina" in subjects
    history: Any = term.json("policy", "history", "county")
    assert [v["version"] for v in history] == [1] and history[0]["policy"]["trial_days"] == 14


def test_roles_tokens_and_periodic_checkpoints(term: Terminal) -> None:
    term.init()
    term("agency", "create", "county")
    term.account("head", "county", "agency_head")
    term.account("ivy", "county", "investigator")
    term.login("head")
    term("account", "roles", "ivy", "--role", "investigator", "--role", "supervisor")
    out = term("account", "roles", "head", "--role", "system_admin", code=2)
    assert "permission_denied" in out and "own roles" in out
    issued = term.json("token", "create", "nightly", "--days", "7", "--code", term.code("head"))
    assert isinstance(issued, dict) and issued["token"].startswith("ft_")
    term("token", "revoke", issued["token"])
    assert "[not_found]" in term("token", "revoke", "ft_nonsense", code=2)
    # Another person's sign-ins: seen by id and revoked with a reason, short of suspension.
    term.login("ivy")
    term.login("head")
    (session,) = term.json("account", "tokens", "ivy")  # type: ignore[misc]
    assert session["name"] == "session" and "token" not in session
    short = term("account", "revoke-access", "ivy", "--reason", "lost", code=2)
    assert "[invalid_field] reason: needs 10+ chars" in short
    said = term("account", "revoke-access", "ivy", "--reason", "laptop left on the train")
    assert "revoked 1 of ivy's sign-ins and tokens" in said
    term.login("ivy")  # the session kept for ivy no longer works
    assert "[token_invalid]" in term("whoami", code=2)
    term.login("head")
    # Every signed-in command ran housekeeping: the first one signed a checkpoint.
    checkpoints = json.loads(term("audit", "export"))
    assert isinstance(checkpoints, list) and checkpoints
