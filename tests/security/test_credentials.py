"""Credentials and secrets against an insider (issue 12): a TOTP code works once, a token
cannot mint tokens, passwords never on the command line, a private home, a session token
file never followed through a link, TOTP secrets sealed at rest and seen only by their owner,
and credential repairs made only by the right person, each on the record."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import select

from facetrail.cli.main import app
from facetrail.config import Settings
from facetrail.errors import (
    AccountInactiveError,
    AuthError,
    EnrolmentRequiredError,
    NotFoundError,
    PasswordChangeRequiredError,
    PermissionDeniedError,
    TokenInvalidError,
)
from facetrail.governance.credentials import Role, totp_now
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.context import AppContext
from facetrail.services.signin import authentication as auth
from facetrail.services.signin import enrolment
from facetrail.store.schema import AuditEntryRow, InboxMessage, User
from tests.cli.conftest import term
from tests.cli.terminal import PASSWORD as CLI_PASSWORD
from tests.cli.terminal import Terminal
from tests.org import PASSWORD, Org, enrol, mailed_invite, make_county, next_code, sign_in

__all__ = ["term"]  # the CLI tests' fixture: a fresh home driven through the real CLI


def _entries(ctx: AppContext, kind: str) -> list[AuditEntryRow]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow).where(AuditEntryRow.kind == kind).order_by(AuditEntryRow.seq)
            )
        )


def _user(ctx: AppContext, username: str) -> User:
    with ctx.sessions() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


@pytest.fixture()
def county(app_ctx: AppContext) -> Org:
    """root (system admin); county: head (head + supervisor), sam (supervisor), ivy and ian
    (investigators); elsewhere: other (the head of another agency)."""
    org = make_county(app_ctx)
    org.add("ivy", "county", Role.INVESTIGATOR)
    org.add("ian", "county", Role.INVESTIGATOR)
    acc.create_agency(app_ctx, org.admin, "elsewhere")
    org.add("other", "elsewhere", Role.AGENCY_HEAD, Role.SUPERVISOR)
    return org


# --- a TOTP code is accepted once -------------------------------------------------------


def test_a_totp_code_is_accepted_once(app_ctx: AppContext) -> None:
    root = acc.init_system(app_ctx, NewAccount("root", "r@ops", PASSWORD, "operators"))
    assert root.totp_secret is not None
    now = datetime.now(UTC)
    code = totp_now(root.totp_secret, at=now.timestamp())
    auth.login(app_ctx, "root", PASSWORD, code, now=now)
    with pytest.raises(AuthError, match="already used to sign in: wait for the next"):
        auth.login(app_ctx, "root", PASSWORD, code, now=now)  # replayed: refused
    failed = _entries(app_ctx, "auth.login.failed")
    assert [json.loads(e.details)["reason"] for e in failed] == ["totp_reused"]
    # Said plainly and not counted towards the lockout (signing in twice within 30 s is what
    # people do); a wrong code still counts.
    assert _user(app_ctx, "root").failed_logins == 0
    with pytest.raises(AuthError, match="wrong username, password or code"):
        auth.login(app_ctx, "root", PASSWORD, "000000" if code != "000000" else "111111", now=now)
    assert _user(app_ctx, "root").failed_logins == 1
    # An older code (the step before, still inside the drift window) is refused as well.
    earlier = totp_now(root.totp_secret, at=now.timestamp() - 30)
    with pytest.raises(AuthError):
        auth.login(app_ctx, "root", PASSWORD, earlier, now=now)


# --- a token cannot mint tokens ---------------------------------------------------------


def test_minting_a_token_needs_password_and_a_fresh_code(county: Org) -> None:
    ctx, head = county.ctx, county.people["head"]
    secret = county.enrolments["head"].totp_secret
    assert secret is not None
    # Whoever holds the session token but not the password mints nothing.
    with pytest.raises(AuthError):
        auth.issue_token(ctx, head, "stolen", password="not the password", code="123456")
    code, at = next_code(secret)
    issued = auth.issue_token(ctx, head, "nightly", password=PASSWORD, code=code, now=at)
    assert auth.authenticate(ctx, issued.token).username == "head"
    with pytest.raises(AuthError):  # nor with a code seen before
        auth.issue_token(ctx, head, "replay", password=PASSWORD, code=code, now=at)
    refused = _entries(ctx, "auth.token.issue.refused")
    assert len(refused) == 2 and all(e.actor == "head" for e in refused)
    assert _user(ctx, "head").failed_logins == 0  # a replayed code is refused, not counted


def test_a_locked_account_cannot_mint_a_token(county: Org) -> None:
    ctx, ivy = county.ctx, county.people["ivy"]
    secret = county.enrolments["ivy"].totp_secret
    assert secret is not None
    for _ in range(auth.MAX_FAILED_LOGINS):
        with pytest.raises(AuthError):
            auth.issue_token(ctx, ivy, "guess", password="a wrong guess!", code="000000")
    code, at = next_code(secret)
    with pytest.raises(AuthError) as locked:  # told as a wrong guess: no lockout oracle
        auth.issue_token(ctx, ivy, "now", password=PASSWORD, code=code, now=at)
    assert locked.value.code == "auth_failed"
    assert _user(ctx, "ivy").locked_until is not None
    refused = _entries(ctx, "auth.token.issue.refused")
    assert len(refused) == auth.MAX_FAILED_LOGINS + 1
    assert json.loads(refused[-1].details)["reason"] == "locked"


def test_a_suspended_accounts_tokens_stop_at_once(county: Org) -> None:
    ctx = county.ctx
    secret = county.enrolments["ivy"].totp_secret
    assert secret is not None
    code, at = next_code(secret)
    issued = auth.issue_token(
        ctx, county.people["ivy"], "script", password=PASSWORD, code=code, now=at
    )
    acc.suspend_account(ctx, county.people["sam"], "ivy", "misuse alert")
    with pytest.raises(AccountInactiveError):
        auth.authenticate(ctx, issued.token)


# --- passwords never on the command line ------------------------------------------------


def _options(command: object) -> list[str]:
    """Every option name of a command and its subcommands (typer's click command tree)."""
    params = getattr(command, "params", [])
    found = [opt for param in params for opt in getattr(param, "opts", [])]
    for sub in getattr(command, "commands", {}).values():
        found += _options(sub)
    return found


def test_no_command_takes_a_password_option() -> None:
    options = _options(typer.main.get_command(app))
    assert "--code" in options  # the walk reaches the sign-in commands
    assert [o for o in options if "password" in o and o != "--password-stdin"] == []


def test_passwords_come_from_stdin_or_the_environment(
    term: Terminal, monkeypatch: pytest.MonkeyPatch
) -> None:
    term.init()
    term("logout")
    monkeypatch.delenv("FACETRAIL_PASSWORD")
    from facetrail.config import get_settings

    get_settings.cache_clear()
    code = term.code("root")
    assert "password_missing" in term("login", "root", "--code", code, code=2)
    wrong = term("login", "root", "--code", code, "--password-stdin", stdin="nope\n", code=2)
    assert "auth_failed" in wrong
    stdin = CLI_PASSWORD + "\n"
    right = term("login", "root", "--code", code, "--password-stdin", stdin=stdin)
    assert "signed in as root" in right  # (a wrong password does not use up the code)


# --- a private home; the token file is never followed through a link -------------------


def test_home_is_0700_and_every_file_0600_after_a_real_cli_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "FACETRAIL_HOME": str(home),
        "FACETRAIL_THREADS": "1",
        "FACETRAIL_ADMIN_PASSWORD": PASSWORD,
        "FACETRAIL_PASSWORD": PASSWORD,
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "facetrail", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    before = os.umask(0o022)  # as a login shell has it: facetrail must not rely on it
    try:
        init = run("init", "--admin", "root", "--email", "r@x", "--json")
        run("login", "root", "--code", totp_now(json.loads(init)["totp_secret"]))
        run("whoami")
        run("agency", "create", "county")
    finally:
        os.umask(before)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    seen = {p.name for p in home.rglob("*")}
    database_file = Settings(home=home).db_file  # None: the database is PostgreSQL's
    assert {"session.token"} | ({database_file.name} if database_file else set()) <= seen
    for path in home.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.suffix == ".vkey":
            continue  # the log's public verifier key is meant to be handed to anyone
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
    key = Settings(home=home).totp_key_file
    assert not key.resolve().is_relative_to(home.resolve())  # kept apart from the database
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700


def test_the_session_token_file_is_never_followed_through_a_link(term: Terminal) -> None:
    term.init()
    term("logout")
    victim = term.home.parent / "victim.txt"
    victim.write_text("precious\n")
    (term.home / "session.token").symlink_to(victim)
    out = term("login", "root", "--code", term.code("root"), code=2)
    assert "session_token_file_unsafe" in out
    assert victim.read_text() == "precious\n"  # never written through the link
    assert "session_token_file_unsafe" in term("whoami", code=2)  # nor read through it
    # A planted token readable by others is refused too: it is not this user's own.
    (term.home / "session.token").unlink()
    planted = term.home / "session.token"
    planted.write_text("ft_planted")
    planted.chmod(0o644)
    assert "session_token_file_unsafe" in term("whoami", code=2)


# --- TOTP secrets sealed at rest, seen only by their owner ------------------------------


def test_totp_secrets_are_not_in_the_database_in_plaintext(county: Org) -> None:
    ctx = county.ctx
    secrets = [e.totp_secret for e in county.enrolments.values()]
    assert all(secrets) and len(secrets) == 6
    ctx.close()  # checkpoint the WAL into the file too
    database_file = ctx.settings.db_file  # on PostgreSQL, the stored rows below are the check
    if database_file is not None:
        stored = b"".join(
            p.read_bytes() for p in database_file.parent.glob(f"{database_file.name}*")
        )
        for secret in secrets:
            assert secret is not None
            assert secret.encode() not in stored and secret.lower().encode() not in stored
    reopened = AppContext.open(ctx.settings)
    with reopened.sessions() as s:
        rows = list(s.scalars(select(User.totp_secret)))
    reopened.close()
    assert rows and all(r is not None and r.startswith("aesgcm1:") for r in rows)


def test_a_granted_account_has_no_secret_until_its_owner_enrols(county: Org) -> None:
    """The head who grants nia's account knows the password they gave, but not the enrolment
    code mailed to nia alone: the head cannot enrol a second factor in nia's name (each try
    audited and counted); nia can, once."""
    ctx = county.ctx
    granted = acc.create_user(
        ctx, county.people["head"], NewAccount("nia", "n@county", PASSWORD, "county")
    )
    assert granted.totp_secret is None and granted.totp_uri is None
    assert granted.recovery_codes == ()
    assert _user(ctx, "nia").totp_secret is None
    invite = mailed_invite(ctx, "nia")
    assert invite is not None and invite not in repr(granted)
    with ctx.sessions() as s:  # the code is nowhere the granter (or a reader of the log) looks
        logged = " ".join(s.scalars(select(AuditEntryRow.details)))
        inboxes = " ".join(s.scalars(select(InboxMessage.body)))
    assert invite not in logged and invite not in inboxes
    with pytest.raises(EnrolmentRequiredError):
        auth.login(ctx, "nia", PASSWORD, "123456")  # nothing works before enrolment
    with pytest.raises(AuthError):
        enrolment.begin_enrolment(ctx, "nia", "a wrong password", invite=invite)
    with pytest.raises(AuthError, match="enrolment code"):  # the granter, with the password
        enrolment.begin_enrolment(ctx, "nia", PASSWORD)
    with pytest.raises(AuthError):  # ... and a guessed code
        enrolment.begin_enrolment(ctx, "nia", PASSWORD, invite="000000-000000-000000-000000")
    assert _user(ctx, "nia").totp_secret is None and _user(ctx, "nia").failed_logins == 3
    shown = enrolment.begin_enrolment(ctx, "nia", PASSWORD, invite=invite.lower())
    assert shown.totp_secret and shown.totp_uri and len(shown.recovery_codes) == 10
    code, at = next_code(shown.totp_secret)
    with pytest.raises(EnrolmentRequiredError):  # shown, not yet confirmed: still nothing
        auth.login(ctx, "nia", PASSWORD, code, now=at)
    with pytest.raises(AuthError):
        enrolment.confirm_enrolment(ctx, "nia", PASSWORD, "000000", now=at)
    session = enrolment.confirm_enrolment(ctx, "nia", PASSWORD, code, now=at)
    assert auth.authenticate(ctx, session.token).username == "nia"
    with pytest.raises(Exception, match="enrolled already"):  # the code is used up
        enrolment.begin_enrolment(ctx, "nia", PASSWORD, invite=invite)
    assert [e.subject for e in _entries(ctx, "auth.enrol")].count("nia") == 1
    refused = _entries(ctx, "auth.enrol.begin.refused") + _entries(ctx, "auth.enrol.refused")
    assert sorted(json.loads(e.details)["code"] for e in refused) == [
        "auth_failed",
        "auth_failed",
        "auth_failed",
        "auth_failed",
        "wrong_state",
    ]


def test_a_second_factor_reset_mails_a_new_code_to_the_owner_alone(county: Org) -> None:
    """The head resets ivy's second factor: the head cannot enrol one for her (the new code
    went to ivy), an old code does not work, and a code expires."""
    ctx, p = county.ctx, county.people
    enrolment.reset_second_factor(ctx, p["head"], "ivy", "lost her phone; seen in person")
    invite = mailed_invite(ctx, "ivy")
    assert invite is not None
    with pytest.raises(AuthError, match="enrolment code"):
        enrolment.begin_enrolment(ctx, "ivy", PASSWORD)
    later = datetime.now(UTC) + acc.ENROL_CODE_LIFETIME + timedelta(minutes=1)
    with pytest.raises(AuthError, match="expired"):
        enrolment.begin_enrolment(ctx, "ivy", PASSWORD, invite=invite, now=later)
    county.enrolments["ivy"], result = enrol(ctx, "ivy", invite=invite)
    assert result.principal.username == "ivy"


# --- repairs by the right person, refusals on the record --------------------------------


def test_reinstating_a_suspended_account(county: Org) -> None:
    ctx, p = county.ctx, county.people
    old_token = sign_in(ctx, county.enrolments["ivy"]).token
    acc.suspend_account(ctx, p["sam"], "ivy", "misuse alert")
    with pytest.raises(PermissionDeniedError):
        enrolment.reinstate_account(ctx, p["ian"], "ivy", "she is my friend")
    with pytest.raises(NotFoundError):  # another agency's people answer as not found
        enrolment.reinstate_account(ctx, p["other"], "ivy", "not theirs")
    refused = _entries(ctx, "account.reinstate.refused")
    assert [(e.actor, e.subject) for e in refused] == [("ian", "ivy"), ("other", "ivy")]
    enrolment.reinstate_account(ctx, p["sam"], "ivy", "cleared by review")
    assert _entries(ctx, "account.reinstate")[0].actor == "sam"
    with pytest.raises(TokenInvalidError):
        auth.authenticate(ctx, old_token)  # tokens from before the suspension stay dead
    assert county.login("ivy").username == "ivy"
    with pytest.raises(Exception, match="not suspended"):
        enrolment.reinstate_account(ctx, p["sam"], "ivy", "again")


def test_a_password_reset_is_one_time_and_the_owner_sets_their_own(county: Org) -> None:
    ctx, p = county.ctx, county.people
    with pytest.raises(PermissionDeniedError):  # a supervisor is not the head
        enrolment.reset_password(ctx, p["sam"], "ivy", "forgot it")
    with pytest.raises(PermissionDeniedError):
        enrolment.reset_password(ctx, p["head"], "head", "my own")
    with pytest.raises(NotFoundError):
        enrolment.reset_password(ctx, p["other"], "ivy", "not theirs")
    assert len(_entries(ctx, "account.password.reset.refused")) == 3
    issued = enrolment.reset_password(ctx, p["head"], "ivy", "forgot it; identity checked")
    ivy = county.enrolments["ivy"]
    with pytest.raises(AuthError):
        sign_in(ctx, ivy)  # the old password is gone
    with pytest.raises(PasswordChangeRequiredError):
        sign_in(ctx, ivy, password=issued.password)  # one-time: only to set one's own
    code, at = next_code(ivy.totp_secret or "")
    new = "ivy's own new password"
    enrolment.change_password(ctx, "ivy", issued.password, code, new, now=at)
    assert sign_in(ctx, ivy, password=new).principal.username == "ivy"
    with pytest.raises(AuthError):
        sign_in(ctx, ivy, password=issued.password)  # used up
    # The owner changes their own with their password and second factor.
    code, at = next_code(ivy.totp_secret or "")
    enrolment.change_password(ctx, "ivy", new, code, PASSWORD, now=at)
    assert [e.actor for e in _entries(ctx, "account.password")] == ["ivy", "ivy"]


def test_second_factor_reset_and_re_enrolment(county: Org) -> None:
    ctx, p = county.ctx, county.people
    with pytest.raises(PermissionDeniedError):
        enrolment.reset_second_factor(ctx, p["sam"], "ivy", "lost phone")
    with pytest.raises(NotFoundError):  # a head of another agency; and root is out of reach
        enrolment.reset_second_factor(ctx, p["other"], "ivy", "lost phone")
    with pytest.raises(NotFoundError):
        enrolment.reset_second_factor(ctx, p["head"], "root", "takeover")
    assert len(_entries(ctx, "account.mfa.reset.refused")) == 3
    old = county.enrolments["ivy"]
    enrolment.reset_second_factor(ctx, p["head"], "ivy", "lost phone; identity checked")
    assert _entries(ctx, "account.mfa.reset")[0].actor == "head"
    with pytest.raises(EnrolmentRequiredError):
        sign_in(ctx, old)
    shown, session = enrol(ctx, "ivy")
    assert shown.totp_secret != old.totp_secret
    assert auth.authenticate(ctx, session.token).username == "ivy"
