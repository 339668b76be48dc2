"""Looking the organisation up: ``account list|show``, ``agency list``, ``network list``,
``token list`` (``services.accounts.directory``: who may see what, and the audit entry of each
look), and another person's sign-ins seen and revoked: ``account tokens|revoke-access``
(``services.signin.access``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import JsonOpt, account_app, agency_app, as_signed_in, network_app, token_app
from facetrail.cli.render import ListColumn, console, print_fields, print_json, print_listing
from facetrail.services.accounts import directory
from facetrail.services.accounts.directory import AccountView
from facetrail.services.signin import access


@account_app.command("list")
def account_list(
    agency: Annotated[
        str | None,
        typer.Option(help="Only this agency's people (default: yours; a system admin: all)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """People's accounts: their status, roles, type and who approved them (an agency's head,
    supervisors and auditors; system admins). Each listing is audited."""
    found = as_signed_in(lambda ctx, me: directory.list_accounts(ctx, me, agency))
    print_listing(
        found,
        [
            "username",
            "agency",
            "status",
            "roles",
            ("type", "account_type"),
            ("trial_expires", "trial_expires_at"),
            "approved_by",
        ],
        as_json=as_json,
        empty="no accounts",
    )


@account_app.command("show")
def account_show(
    username: Annotated[str | None, typer.Argument(help="Default: your own account.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One account: yours, or one of your agency's people (its head, supervisors and
    auditors; system admins any). The view is audited."""
    account: AccountView = as_signed_in(
        lambda ctx, me: directory.show_account(ctx, me, username or me.username)
    )
    if as_json:
        print_json(account)
        return
    print_fields(
        [
            ("username", account.username),
            ("email", account.email),
            ("agency", account.agency),
            ("status", account.status),
            ("roles", account.roles),
            ("type", account.account_type),
            ("trial_expires", account.trial_expires_at),
            ("created", account.created_at),
            ("approved_by", account.approved_by),
            ("supervisor", account.supervisor),
            ("second_factor", account.second_factor),
        ]
    )


@agency_app.command("list")
def agency_list(as_json: JsonOpt = False) -> None:
    """The agencies you may see (system admins: all; network operators: their network's;
    everyone else: their own), with their network, size, heads and policy version."""
    found = as_signed_in(directory.list_agencies)
    print_listing(
        found,
        [("agency", "name"), "network", "accounts", "heads", "policy_version"],
        as_json=as_json,
        empty="no agencies",
    )


@network_app.command("list")
def network_list(as_json: JsonOpt = False) -> None:
    """The networks you may see, with the member agencies you may see."""
    found = as_signed_in(directory.list_networks)
    print_listing(found, [("network", "name"), "agencies"], as_json=as_json, empty="no networks")


@token_app.command("list")
def token_list(
    show_all: Annotated[
        bool, typer.Option("--all", help="Also the revoked and expired ones.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Your API tokens and sign-in sessions by name, newest first; each is named by the first
    12 characters of its hash, as its audit entries name it (the token itself is never kept)."""
    found = as_signed_in(lambda ctx, me: directory.list_tokens(ctx, me, include_inactive=show_all))
    print_listing(
        found,
        [
            "id",
            "name",
            ("created", "created_at"),
            ("expires", "expires_at"),
            ("revoked", "revoked_at"),
            "active",
        ],
        as_json=as_json,
        empty="no tokens",
    )


_TOKEN_COLUMNS: list[ListColumn] = [
    "id",
    "name",
    ("created", "created_at"),
    ("expires", "expires_at"),
]


@account_app.command("tokens")
def account_tokens(username: str, as_json: JsonOpt = False) -> None:
    """Another person's working sign-ins and API tokens, by id (a supervisor or head of their
    agency, or a system admin). Audited."""
    found = as_signed_in(lambda ctx, me: access.tokens_of(ctx, me, username))
    print_listing(found, _TOKEN_COLUMNS, as_json=as_json, empty=f"{username} has none working")


@account_app.command("revoke-access")
def account_revoke_access(
    username: str,
    reason: Annotated[str, typer.Option(help="Why (they and their head are told).")],
    token: Annotated[
        str | None, typer.Option(help="One id from 'account tokens' (default: all of them).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke another person's sign-ins and tokens, one or all; the account stays active and
    they sign in again (suspend is the step beyond). Audited."""
    revoked = as_signed_in(lambda ctx, me: access.revoke_access(ctx, me, username, reason, token))
    if as_json:
        print_json({"revoked": revoked})
        return
    console.print(f"revoked {len(revoked)} of {escape(username)}'s sign-ins and tokens")
