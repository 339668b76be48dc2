"""Looking the organisation up: ``account list|show``, ``agency list``, ``network list``,
``token list`` (``services.accounts.directory``: who may see what, and the audit entry of each
look)."""

from __future__ import annotations

from typing import Annotated

import typer

from facetrail.cli.app import JsonOpt, account_app, agency_app, as_signed_in, network_app, token_app
from facetrail.cli.render import print_fields, print_json, print_listing
from facetrail.services.accounts import directory
from facetrail.services.accounts.directory import AccountView


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
