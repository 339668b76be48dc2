"""Signing in and out, enrolling a second factor, one's own password and API tokens, and the
repairs a head or admin makes to someone's credentials.

Passwords are never command-line options (they would show in ``ps`` and shell history): each
comes from standard input with ``--password-stdin`` (one per line, the current one first, as
``docker login``), else an environment variable, else a prompt that does not echo.
"""

from __future__ import annotations

import io
import sys
from typing import Annotated, NoReturn

import typer
from pydantic import SecretStr
from rich.markup import escape

from facetrail.cli.app import (
    JsonOpt,
    account_app,
    app,
    as_signed_in,
    check_session_token_file,
    in_context,
    open_context,
    read_session_token,
    run_service,
    signed_in,
    token_app,
    write_session_token,
)
from facetrail.cli.render import console, print_error, print_json
from facetrail.config import get_settings
from facetrail.errors import FacetrailError, PasswordChangeRequiredError
from facetrail.services.accounts import Enrolment
from facetrail.services.signin.authentication import LoginResult

PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input, one line (a new one on the next line); "
        "else FACETRAIL_PASSWORD (FACETRAIL_NEW_PASSWORD for a new one) or a prompt.",
    ),
]
CodeOpt = Annotated[str, typer.Option(help="A TOTP code (each works once) or a recovery code.")]
ReasonOpt = Annotated[str, typer.Option(help="Why (on the record; told to the person and head).")]


class Passwords:
    """Where one command's passwords come from: standard input, else the environment, else a
    prompt. Never an option."""

    def __init__(self, from_stdin: bool) -> None:
        self.from_stdin = from_stdin

    def current(self) -> str:
        return self._read(get_settings().password, "FACETRAIL_PASSWORD", "password", twice=False)

    def new(self, what: str = "new password") -> str:
        """A new password: FACETRAIL_NEW_PASSWORD, else standard input or a prompt (twice)."""
        return self._read(get_settings().new_password, "FACETRAIL_NEW_PASSWORD", what, twice=True)

    def first_admin(self) -> str:
        """``facetrail init``'s password: FACETRAIL_ADMIN_PASSWORD, standard input or a prompt."""
        env = get_settings().admin_password
        return self._read(
            env, "FACETRAIL_ADMIN_PASSWORD", "password for the first admin", twice=True
        )

    def _read(self, env: SecretStr | None, name: str, prompt: str, *, twice: bool) -> str:
        if self.from_stdin:
            line = sys.stdin.readline()
            if not line.strip():
                _missing(f"standard input has no {prompt}")
            return line.rstrip("\r\n")
        if env is not None:
            return env.get_secret_value()
        if sys.stdin.isatty():
            return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=twice))
        _missing(f"use --password-stdin, set {name} or run this in a terminal")


def _missing(how: str) -> NoReturn:
    print_error("password_missing", how)
    raise typer.Exit(2)


def print_enrolment(enrolment: Enrolment) -> None:
    """The second factor, shown once to its owner: a QR code, the secret, recovery codes."""
    assert enrolment.totp_secret is not None and enrolment.totp_uri is not None
    console.print("Scan this QR code with an authenticator app, or type the secret (shown once):")
    console.print(_qr_text(enrolment.totp_uri), highlight=False)
    console.print(f"  secret {enrolment.totp_secret}\n  uri    {escape(enrolment.totp_uri)}")
    console.print("Recovery codes (each works once; keep them offline):")
    console.print("  " + "  ".join(enrolment.recovery_codes))


def _qr_text(data: str) -> str:
    """A QR code drawn with block characters, for a terminal."""
    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(data)
    drawn = io.StringIO()
    code.print_ascii(out=drawn, invert=True)
    return drawn.getvalue()


def _signed_in_as(result: LoginResult, as_json: bool) -> None:
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


@app.command("login")
def login_cmd(
    username: str,
    code: CodeOpt,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Sign in with password and second factor; the session token is kept in the home (0600).

    The password comes from --password-stdin, FACETRAIL_PASSWORD or a prompt."""
    from facetrail.services.signin import authentication

    password = Passwords(password_stdin).current()
    with open_context() as ctx:
        run_service(lambda: check_session_token_file(ctx.settings.session_token_file))
        result = run_service(lambda: authentication.login(ctx, username, password, code))
        run_service(lambda: write_session_token(ctx.settings.session_token_file, result.token))
    _signed_in_as(result, as_json)


@app.command("enrol")
def enrol_cmd(
    username: str,
    code: Annotated[
        str | None, typer.Option(help="A code from the new secret: completes the enrolment.")
    ] = None,
    invite: Annotated[
        str | None,
        typer.Option(
            help="The enrolment code mailed to you when someone else set up your account or "
            "reset your second factor."
        ),
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """First sign-in of a new account (or after a second-factor reset): shows you your TOTP
    secret, QR code and recovery codes, then takes a code from it and signs you in. An account
    someone else set up needs the enrolment code mailed to you (--invite).

    Without --code it shows a new secret (in a terminal it then asks for a code); run it again
    with --code to confirm. After a password reset it also asks for your new password."""
    from facetrail.services.signin import enrolment

    passwords = Passwords(password_stdin)
    password = passwords.current()
    with open_context() as ctx:
        run_service(lambda: check_session_token_file(ctx.settings.session_token_file))
        if code is None:
            shown = run_service(
                lambda: enrolment.begin_enrolment(ctx, username, password, invite=invite)
            )
            if as_json:
                print_json(shown)
            else:
                print_enrolment(shown)
            if not sys.stdin.isatty():
                if not as_json:
                    console.print(f"then confirm: facetrail enrol {escape(username)} --code CODE")
                return
            code = str(typer.prompt("code from your authenticator app"))
        given = code

        def confirm() -> LoginResult:
            try:
                return enrolment.confirm_enrolment(ctx, username, password, given)
            except PasswordChangeRequiredError:  # after a reset: set your own password too
                new = passwords.new()
                return enrolment.confirm_enrolment(ctx, username, password, given, new_password=new)

        result = run_service(confirm)
        run_service(lambda: write_session_token(ctx.settings.session_token_file, result.token))
    if not as_json:
        console.print("second factor enrolled")
    _signed_in_as(result, as_json)


@app.command("logout")
def logout_cmd() -> None:
    """Revoke the session token and delete it from the home."""
    from facetrail.services.signin import authentication

    with open_context() as ctx:
        token_file = ctx.settings.session_token_file
        token = run_service(lambda: read_session_token(token_file))
        if token is None:
            console.print("not signed in")
            return
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


@token_app.command("create")
def token_create(
    name: str,
    code: CodeOpt,
    days: Annotated[int, typer.Option(help="Lifetime in days (1..90).")] = 30,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A named API token for scripts and the API (shown once; only its hash is kept). A token
    cannot mint tokens: your password and a fresh code are asked again."""
    from facetrail.services.signin import authentication

    password = Passwords(password_stdin).current()
    issued = as_signed_in(
        lambda ctx, me: authentication.issue_token(
            ctx, me, name, days, password=password, code=code
        )
    )
    if as_json:
        print_json({"name": name, "token": issued.token, "expires_at": issued.expires_at})
    else:
        console.print(f"token {issued.token}\nexpires {issued.expires_at} (shown once)")


@token_app.command("revoke")
def token_revoke(token: str) -> None:
    """Revoke one of your tokens (a system admin may revoke anyone's)."""
    from facetrail.services.signin import authentication

    as_signed_in(lambda ctx, me: authentication.revoke_token(ctx, me, token))
    console.print("revoked")


# --- one's own password, and repairs by a head or admin -----------------------------------


@account_app.command("password")
def account_password(
    username: str, code: CodeOpt, password_stdin: PasswordStdinOpt = False
) -> None:
    """Set a new password with your current one (or the one-time one from a reset) and your
    second factor; your tokens are revoked, so sign in again. Needs no sign-in."""
    from facetrail.services.signin import enrolment

    passwords = Passwords(password_stdin)
    current = passwords.current()
    new = passwords.new()
    in_context(lambda ctx: enrolment.change_password(ctx, username, current, code, new))
    console.print(f"password changed for {escape(username)}; sign in again")


@account_app.command("reinstate")
def account_reinstate(username: str, reason: ReasonOpt) -> None:
    """Reinstate a suspended account (a supervisor or head of its agency, or a system admin;
    never your own). Its old tokens stay revoked."""
    from facetrail.services.signin import enrolment

    as_signed_in(lambda ctx, me: enrolment.reinstate_account(ctx, me, username, reason))
    console.print(f"reinstated {escape(username)}")


@account_app.command("reset-password")
def account_reset_password(username: str, reason: ReasonOpt, as_json: JsonOpt = False) -> None:
    """Give someone who lost their password a one-time one (72 hours) that only lets them set
    their own (head of their agency or a system admin). Hand it over in person."""
    from facetrail.services.signin import enrolment

    issued = as_signed_in(lambda ctx, me: enrolment.reset_password(ctx, me, username, reason))
    if as_json:
        print_json(issued)
        return
    console.print(
        f"one-time password for {escape(username)}: {issued.password}\n"
        f"valid until {issued.expires_at}; they set their own with "
        f"'facetrail accounts password {escape(username)} --code CODE'"
    )


@account_app.command("reset-mfa")
def account_reset_mfa(username: str, reason: ReasonOpt) -> None:
    """After verifying the person, delete their second factor and recovery codes; they enrol
    a new one at their next sign-in (head of their agency or a system admin)."""
    from facetrail.services.signin import enrolment

    as_signed_in(lambda ctx, me: enrolment.reset_second_factor(ctx, me, username, reason))
    console.print(
        f"second factor of {escape(username)} reset; they run 'facetrail enrol {escape(username)}'"
    )
