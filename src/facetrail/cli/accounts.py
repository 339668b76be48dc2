"""The inbox and the organisation: first start, networks, agencies, accounts. (Signing in,
enrolment, tokens and credential repairs are in ``cli/signin.py``.)"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import (
    HELP,
    JsonOpt,
    account_app,
    agency_app,
    app,
    as_signed_in,
    in_context,
    network_app,
    open_context,
    run_service,
)
from facetrail.cli.render import console, is_terminal, print_json, print_rows
from facetrail.cli.signin import Passwords, PasswordStdinOpt, print_enrolment
from facetrail.config import get_settings
from facetrail.governance.credentials import Role
from facetrail.services import accounts
from facetrail.services.accounts import Enrolment, account_approval, agency_domains

# --- first start ------------------------------------------------------------------------


@app.command("init")
def init_cmd(
    admin: Annotated[str, typer.Option(help="Username of the first system admin.")],
    email: Annotated[str, typer.Option()],
    agency: Annotated[str, typer.Option(help="The operators' agency.")] = "facetrail operators",
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create the data folder, the audit signing key, the secrets key and the first system
    admin, whose second factor is shown here (they are the one running it).

    The password comes from --password-stdin, FACETRAIL_ADMIN_PASSWORD or a prompt; there is
    no default.
    """
    settings = get_settings()
    password = Passwords(password_stdin).first_admin()
    with open_context(create=True) as ctx:
        enrolment = run_service(
            lambda: accounts.init_system(ctx, accounts.NewAccount(admin, email, password, agency))
        )
    if as_json:
        print_json(enrolment)
        return
    console.print(f"initialised {settings.home}; system admin {enrolment.username}")
    print_enrolment(enrolment)


@app.command("inbox")
def inbox_cmd(as_json: JsonOpt = False) -> None:
    """Your notifications: account requests, approvals, policy changes, searches to decide."""
    from facetrail.services.notifications import inbox

    messages = as_signed_in(lambda ctx, me: inbox(ctx, me.user_id))
    if as_json:
        print_json(messages)
        return
    if not is_terminal():
        print_rows(
            ("id", "at", "subject", "body"), [(m.id, m.at, m.subject, m.body) for m in messages]
        )
        return
    if not messages:
        console.print("no messages")
    for m in messages:
        console.print(f"[bold]{escape(m.subject)}[/bold]  ({m.at})\n  {escape(m.body)}")


# --- organisation -----------------------------------------------------------------------


@network_app.command("create")
def network_create(name: str) -> None:
    """A network of agencies whose operators may search for its members (system admins)."""
    as_signed_in(lambda ctx, me: accounts.create_network(ctx, me, name))
    console.print(f"created network {escape(name)}")


domain_app = typer.Typer(
    help="An agency's e-mail domains (its accounts' e-mails are on one): add, remove, list.",
    no_args_is_help=True,
    **HELP,  # type: ignore[arg-type]
)
agency_app.add_typer(domain_app, name="domains")
agency_app.add_typer(domain_app, name="domain", hidden=True)


@domain_app.command("add")
def domain_add(agency: str, domain: str) -> None:
    """Register an e-mail domain of the agency (its head or a system admin): account
    requests come from addresses on one, and an agency with none takes no requests."""
    as_signed_in(lambda ctx, me: agency_domains.register_domain(ctx, me, agency, domain))
    console.print(f"registered {escape(domain)} for {escape(agency)}")


@domain_app.command("remove")
def domain_remove(agency: str, domain: str) -> None:
    """Remove one of the agency's e-mail domains (its accounts stay)."""
    as_signed_in(lambda ctx, me: agency_domains.remove_domain(ctx, me, agency, domain))
    console.print(f"removed {escape(domain)} from {escape(agency)}")


@domain_app.command("list")
def domain_list(agency: str, as_json: JsonOpt = False) -> None:
    """The agency's registered e-mail domains."""
    found = as_signed_in(lambda ctx, me: agency_domains.list_domains(ctx, me, agency))
    if as_json:
        print_json(found)
    else:
        print_rows(["domain"], [[d] for d in found], empty="no e-mail domain registered")


@agency_app.command("create")
def agency_create(
    name: str,
    network: Annotated[str | None, typer.Option(help="The network it belongs to.")] = None,
    trial_days: Annotated[int, typer.Option(help="How long its trial accounts last.")] = 30,
) -> None:
    """An agency with the default policy (no galleries until its head grants them)."""
    as_signed_in(lambda ctx, me: accounts.create_agency(ctx, me, name, trial_days, network))
    console.print(f"created agency {escape(name)} with the default policy (version 1)")


TrialOpt = Annotated[bool, typer.Option("--trial", help="A trial account (expires).")]


def _enrolled(enrolment: Enrolment, as_json: bool, said: str, *, invited: str = "") -> None:
    if as_json:
        print_json(enrolment)
        return
    console.print(said)
    console.print(
        f"{escape(enrolment.username)} enrols a second factor at first sign-in: "
        f"facetrail enrol {escape(enrolment.username)}{invited}"
    )


@account_app.command("create")
def account_create(
    username: str,
    email: Annotated[str, typer.Option()],
    agency: Annotated[str, typer.Option()],
    roles: Annotated[list[Role], typer.Option("--role", help="A role to grant (repeatable).")],
    trial: TrialOpt = False,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Grant an account (system admins, or the head of the same agency); active at once, and
    its owner enrols their second factor at first sign-in (no one else sees it).

    The password comes from --password-stdin, FACETRAIL_NEW_PASSWORD or a prompt."""
    secret = Passwords(password_stdin).new(f"password for {username}")
    account = accounts.NewAccount(
        username, email, secret, agency, tuple(roles), "trial" if trial else "full"
    )
    enrolment = as_signed_in(lambda ctx, me: accounts.create_user(ctx, me, account))
    roles_said = ", ".join(r.value for r in roles)
    _enrolled(
        enrolment,
        as_json,
        f"created {username} in {escape(agency)} ({roles_said})",
        invited=" --invite CODE (the code is mailed to them alone)",
    )


@account_app.command("request")
def account_request(
    username: str,
    email: Annotated[str, typer.Option()],
    agency: Annotated[str, typer.Option()],
    supervisor: Annotated[str, typer.Option(help="The supervisor who must approve it.")],
    trial: TrialOpt = False,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Ask for an investigator account (no sign-in), with an e-mail on a domain the agency
    registered; once its head or two supervisors approve it, enrol your second factor with
    'facetrail enrol'. The answer is the same whether or not the username
    is free and the supervisor supervises there (the agency's head is told if it is not).

    The password comes from --password-stdin, FACETRAIL_NEW_PASSWORD or a prompt."""
    secret = Passwords(password_stdin).new(f"password for {username}")
    account = accounts.NewAccount(
        username,
        email,
        secret,
        agency,
        account_type="trial" if trial else "full",
        supervisor=supervisor,
    )
    enrolment = in_context(lambda ctx: accounts.request_account(ctx, account))
    _enrolled(
        enrolment,
        as_json,
        f"asked for {escape(username)} in {escape(agency)}: once the agency's head, or "
        f"{escape(supervisor)} and another supervisor there, approve it, you can sign in; "
        "until then signing in answers as for a wrong password",
    )


@account_app.command("approve")
def account_approve(username: str, as_json: JsonOpt = False) -> None:
    """Approve a requested account of your agency (supervisors and its head; not your own).
    The head's approval makes it active; a supervisor's waits for a second person's."""
    state = as_signed_in(lambda ctx, me: account_approval.approve_account(ctx, me, username))
    if as_json:
        print_json(state)
    elif state.status == "active":
        console.print(f"approved {escape(username)}: active")
    else:
        console.print(
            f"approved {escape(username)}: it waits for the agency's head or another "
            "supervisor to approve it too"
        )


@account_app.command("suspend")
def account_suspend(
    username: str, reason: Annotated[str, typer.Option(help="Why (told to the head).")]
) -> None:
    """Suspend an account at once: its tokens stop working at their next use."""
    as_signed_in(lambda ctx, me: accounts.suspend_account(ctx, me, username, reason))
    console.print(f"suspended {escape(username)}")


@account_app.command("roles")
def account_roles(
    username: str,
    roles: Annotated[list[Role], typer.Option("--role", help="A role (repeatable).")],
) -> None:
    """Replace a user's roles (a system admin, or the head of their agency; never your own)."""
    chosen = tuple(roles)
    as_signed_in(lambda ctx, me: accounts.set_roles(ctx, me, username, chosen))
    console.print(f"{escape(username)}: {', '.join(r.value for r in chosen)}")
