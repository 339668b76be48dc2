"""init -> login with TOTP -> whoami, as a system admin would type it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import get_settings
from facetrail.governance.credentials import totp_now


def test_init_login_whoami(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FACETRAIL_HOME", str(home))
    runner = CliRunner()
    get_settings.cache_clear()
    out = runner.invoke(app, ["init", "--admin", "root", "--email", "r@x", "--json"])
    assert out.exit_code == 2 and "password_missing" in out.output  # never a default
    monkeypatch.setenv("FACETRAIL_ADMIN_PASSWORD", "a long enough secret")
    get_settings.cache_clear()
    out = runner.invoke(app, ["init", "--admin", "root", "--email", "r@x", "--json"])
    assert out.exit_code == 0, out.output
    enrolment = json.loads(out.output)
    assert len(enrolment["recovery_codes"]) == 10
    again = runner.invoke(app, ["init", "--admin", "root2", "--email", "r@x"])
    assert again.exit_code == 2 and "account_exists" in again.output
    bad = runner.invoke(
        app, ["login", "root", "--password", "a long enough secret", "--code", "123456"]
    )
    assert bad.exit_code == 2 and "auth_failed" in bad.output
    ok = runner.invoke(
        app,
        [
            "login",
            "root",
            "--password",
            "a long enough secret",
            "--code",
            totp_now(enrolment["totp_secret"]),
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    token_file = home / "session.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    who = json.loads(runner.invoke(app, ["whoami", "--json"]).output)
    assert who == {"username": "root", "agency": "facetrail operators", "roles": ["system_admin"]}
    verify = runner.invoke(app, ["audit", "verify", "--json"])
    get_settings.cache_clear()
    assert json.loads(verify.output)["ok"] is True
