"""init, login, whoami."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from facetrail.cli.app import (
    JsonOpt,
    app,
    open_context,
    run_service,
)
from facetrail.cli.render import console, err_console, print_json
from facetrail.config import get_settings

# --- accounts ---------------------------------------------------------------------------


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
    from facetrail.services import accounts

    settings = get_settings()
    if settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()
    elif sys.stdin.isatty():
        password = typer.prompt(
            "password for the first admin", hide_input=True, confirmation_prompt=True
        )
    else:
        err_console.print(
            "[red]error[/red] \\[password_missing] set FACETRAIL_ADMIN_PASSWORD "
            "or run init in a terminal"
        )
        raise typer.Exit(2)
    with open_context() as ctx:
        enrolment = run_service(
            lambda: accounts.init_system(ctx, accounts.NewAccount(admin, email, password, agency))
        )
    if as_json:
        print_json(enrolment)
        return
    console.print(f"initialised {settings.home}; system admin {enrolment.username}")
    console.print("Enrol this TOTP secret in an authenticator app (shown once):")
    console.print(f"  secret {enrolment.totp_secret}\n  uri    {enrolment.totp_uri}")
    console.print("Recovery codes (each works once; keep them offline):")
    console.print("  " + "  ".join(enrolment.recovery_codes))


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


@app.command("whoami")
def whoami_cmd(as_json: JsonOpt = False) -> None:
    """The signed-in user (each use of the session token is audited)."""
    from facetrail.services import authentication

    with open_context() as ctx:
        token_file = ctx.settings.session_token_file
        if not token_file.exists():
            err_console.print("[red]error[/red] \\[not_signed_in] run 'facetrail login' first")
            raise typer.Exit(2)
        principal = run_service(
            lambda: authentication.authenticate(ctx, token_file.read_text().strip())
        )
    if as_json:
        print_json(
            {
                "username": principal.username,
                "agency": principal.agency,
                "roles": sorted(principal.roles),
            }
        )
    else:
        console.print(
            f"{principal.username} ({principal.agency}): {', '.join(sorted(principal.roles))}"
        )
