"""Signing in and out, the inbox, and the organisation: networks, agencies, accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import (
    JsonOpt,
    account_app,
    agency_app,
    app,
    network_app,
    open_context,
    run_service,
    signed_in,
    token_app,
)
from facetrail.cli.render import console, err_console, print_json
from facetrail.config import get_settings
from facetrail.errors import FacetrailError
from facetrail.governance.credentials import Role
from facetrail.services import accounts
from facetrail.services.accounts import Enrolment

# --- first start and signing in ---------------------------------------------------------


def _print_enrolment(enrolment: Enrolment) -> None:
    console.print("Scan this QR code with an authenticator app, or type the secret (shown once):")
    console.print(_qr_text(enrolment.totp_uri), highlight=False)
    console.print(f"  secret {enrolment.totp_secret}\n  uri    {escape(enrolment.totp_uri)}")
    console.print("Recovery codes (each works once; keep them offline):")
    console.print("  " + "  ".join(enrolment.recovery_codes))


def _qr_text(data: str) -> str:
    """A QR code drawn with block characters, for a terminal."""
    import io

    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(data)
    drawn = io.StringIO()
    code.print_ascii(out=drawn, invert=True)
    return drawn.getvalue()


def _password(given: str | None, env: str, prompt: str) -> str:
    """A new password: given (an option or its environment variable), else typed twice."""
    if given is not None:
        return given
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))
    err_console.print(f"[red]error[/red] \\[password_missing] set {env} or run this in a terminal")
    raise typer.Exit(2)


@app.command("init")
def init_cmd(
    admin: Annotated[str, typer.Option(help="Username of the first system admin.")],
    email: Annotated[str, typer.Option()],
    agency: Annotated[str, typer.Option(help="The operators' agency.")] = "facetrail operators",
    as_json: JsonOpt = False,
) -> None:
    """Create the data folder, the audit signing key and the first system admin.

    The password comes from FACETRAIL_ADMIN_PASSWORD or a prompt; there is no default.
    """
    settings = get_settings()
    secret = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = _password(secret, "FACETRAIL_ADMIN_PASSWORD", "password for the first admin")
    with open_context() as ctx:
        enrolment = run_service(
            lambda: accounts.init_system(ctx, accounts.NewAccount(admin, email, password, agency))
        )
    if as_json:
        print_json(enrolment)
        return
    console.print(f"initialised {settings.home}; system admin {enrolment.username}")
    _print_enrolment(enrolment)


@app.command("login")
def login_cmd(
    username: str,
    code: Annotated[str, typer.Option(help="TOTP code or a recovery code.")],
    password: Annotated[str | None, typer.Option(help="Prompted when omitted.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign in with password and second factor; the session token is kept in the home."""
    from facetrail.services import authentication

    secret = password if password is not None else typer.prompt("password", hide_input=True)
    with open_context() as ctx:
        result = run_service(lambda: authentication.login(ctx, username, secret, code))
        token_file = ctx.settings.session_token_file
        token_file.write_text(result.token)
        token_file.chmod(0o600)
    if as_json:
        print_json(
            {
                "username": result.principal.username,
                "expires_at": result.expires_at,
                "roles": sorted(result.principal.roles),
            }
        )
    else:
        console.print(
            f"signed in as {result.principal.username} "
            f"({result.principal.agency}) until {result.expires_at}"
        )


@app.command("logout")
def logout_cmd() -> None:
    """Revoke the session token and delete it from the home."""
    from facetrail.services import authentication

    with open_context() as ctx:
        token_file = ctx.settings.session_token_file
        if not token_file.exists():
            console.print("not signed in")
            return
        token = token_file.read_text().strip()
        try:
            me = authentication.authenticate(ctx, token)
            authentication.revoke_token(ctx, me, token)
            said = f"signed out {me.username}; the session token is revoked"
        except FacetrailError as exc:
            said = f"the session token no longer worked ({exc.code}); deleted it"
        token_file.unlink()
    console.print(said)


@app.command("whoami")
def whoami_cmd(as_json: JsonOpt = False) -> None:
    """The signed-in user (each use of the session token is audited)."""
    with signed_in() as (_ctx, me):
        pass
    if as_json:
        print_json({"username": me.username, "agency": me.agency, "roles": sorted(me.roles)})
    else:
        console.print(f"{me.username} ({me.agency}): {', '.join(sorted(me.roles))}")


@app.command("inbox")
def inbox_cmd(as_json: JsonOpt = False) -> None:
    """Your notifications: account requests, approvals, policy changes, searches to decide."""
    from facetrail.services.notifications import inbox

    with signed_in() as (ctx, me):
        messages = run_service(lambda: inbox(ctx, me.user_id))
    rows = [
        {"id": m.id, "at": m.created_at.isoformat(), "subject": m.subject, "body": m.body}
        for m in messages
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no messages")
    for r in rows:
        console.print(f"[bold]{escape(r['subject'])}[/bold]  ({r['at']})\n  {escape(r['body'])}")


# --- organisation -----------------------------------------------------------------------


@network_app.command("create")
def network_create(name: str) -> None:
    """A network of agencies whose operators may search for its members (system admins)."""
    with signed_in() as (ctx, me):
        run_service(lambda: accounts.create_network(ctx, me, name))
    console.print(f"created network {escape(name)}")


@agency_app.command("create")
def agency_create(
    name: str,
    network: Annotated[str | None, typer.Option(help="The network it belongs to.")] = None,
    trial_days: Annotated[int, typer.Option(help="How long its trial accounts last.")] = 30,
) -> None:
    """An agency with the default policy (no galleries until its head grants them)."""
    with signed_in() as (ctx, me):
        run_service(lambda: accounts.create_agency(ctx, me, name, trial_days, network))
    console.print(f"created agency {escape(name)} with the default policy (version 1)")


PasswordOpt = Annotated[
    str | None,
    typer.Option(
        envvar="FACETRAIL_NEW_PASSWORD",
        show_envvar=True,
        help="The new account's password (prefer the environment variable); else prompted.",
    ),
]
TrialOpt = Annotated[bool, typer.Option("--trial", help="A trial account (expires).")]


def _enrolled(enrolment: Enrolment, as_json: bool, said: str) -> None:
    if as_json:
        print_json(enrolment)
        return
    console.print(said)
    _print_enrolment(enrolment)


@account_app.command("create")
def account_create(
    username: str,
    email: Annotated[str, typer.Option()],
    agency: Annotated[str, typer.Option()],
    roles: Annotated[list[Role], typer.Option("--role", help="A role to grant (repeatable).")],
    trial: TrialOpt = False,
    password: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Grant an account (system admins, or the head of the same agency); active at once."""
    secret = _password(password, "FACETRAIL_NEW_PASSWORD", f"password for {username}")
    account = accounts.NewAccount(
        username, email, secret, agency, tuple(roles), "trial" if trial else "full"
    )
    with signed_in() as (ctx, me):
        enrolment = run_service(lambda: accounts.create_user(ctx, me, account))
    roles_said = ", ".join(r.value for r in roles)
    _enrolled(enrolment, as_json, f"created {username} in {escape(agency)} ({roles_said})")


@account_app.command("request")
def account_request(
    username: str,
    email: Annotated[str, typer.Option()],
    agency: Annotated[str, typer.Option()],
    supervisor: Annotated[str, typer.Option(help="The supervisor who must approve it.")],
    trial: TrialOpt = False,
    password: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask for an investigator account (no sign-in); it works once the supervisor approves."""
    secret = _password(password, "FACETRAIL_NEW_PASSWORD", f"password for {username}")
    account = accounts.NewAccount(
        username,
        email,
        secret,
        agency,
        account_type="trial" if trial else "full",
        supervisor=supervisor,
    )
    with open_context() as ctx:
        enrolment = run_service(lambda: accounts.request_account(ctx, account))
    _enrolled(
        enrolment,
        as_json,
        f"requested {username} in {escape(agency)}; {escape(supervisor)} must approve it",
    )


@account_app.command("approve")
def account_approve(username: str) -> None:
    """Activate a requested account of your agency (supervisors; not your own)."""
    with signed_in() as (ctx, me):
        run_service(lambda: accounts.approve_account(ctx, me, username))
    console.print(f"approved {escape(username)}")


@account_app.command("suspend")
def account_suspend(
    username: str, reason: Annotated[str, typer.Option(help="Why (told to the head).")]
) -> None:
    """Suspend an account at once: its tokens stop working at their next use."""
    with signed_in() as (ctx, me):
        run_service(lambda: accounts.suspend_account(ctx, me, username, reason))
    console.print(f"suspended {escape(username)}")


@account_app.command("roles")
def account_roles(
    username: str,
    roles: Annotated[list[Role], typer.Option("--role", help="A role (repeatable).")],
) -> None:
    """Replace a user's roles (a system admin, or the head of their agency; never your own)."""
    chosen = tuple(roles)
    with signed_in() as (ctx, me):
        run_service(lambda: accounts.set_roles(ctx, me, username, chosen))
    console.print(f"{escape(username)}: {', '.join(r.value for r in chosen)}")


@token_app.command("create")
def token_create(
    name: str,
    days: Annotated[int, typer.Option(help="Lifetime in days (1..90).")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """A named API token for scripts and the API (shown once; only its hash is kept)."""
    from facetrail.services import authentication

    with signed_in() as (ctx, me):
        issued = run_service(lambda: authentication.issue_token(ctx, me, name, days))
    if as_json:
        print_json({"name": name, "token": issued.token, "expires_at": issued.expires_at})
    else:
        console.print(f"token {issued.token}\nexpires {issued.expires_at} (shown once)")


@token_app.command("revoke")
def token_revoke(token: str) -> None:
    """Revoke one of your tokens (a system admin may revoke anyone's)."""
    from facetrail.services import authentication

    with signed_in() as (ctx, me):
        run_service(lambda: authentication.revoke_token(ctx, me, token))
    console.print("revoked")
