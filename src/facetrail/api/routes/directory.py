"""Lists of the organisation and of searches: accounts, agencies, networks, your tokens, the
agency's searches and cases. The same services, names and fields as the CLI's ``list``
commands (``services.accounts.directory``, ``services.searching.listings``); every look is
audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from facetrail.api.pages import Cursor, Limit, page
from facetrail.edge.deps import Context, Me
from facetrail.services.accounts import directory
from facetrail.services.accounts.directory import AccountView
from facetrail.services.searching import listings
from facetrail.services.searching.listings import MAX_LISTED, SearchQuery

router = APIRouter(tags=["directory"])

Text = Annotated[str | None, Query(max_length=200)]


@router.get("/accounts", summary="Accounts of an agency (heads, supervisors, auditors)")
def accounts(
    ctx: Context, me: Me, agency: Text = None, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    found = directory.list_accounts(ctx, me, agency)
    return page(found, lambda a: a.username, cursor, limit)


@router.get("/accounts/{username}", response_model=AccountView, summary="One account")
def account(
    username: Annotated[str, Path(min_length=1, max_length=200)], ctx: Context, me: Me
) -> AccountView:
    return directory.show_account(ctx, me, username)


@router.get("/agencies", summary="Agencies you may see")
def agencies(ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    return page(directory.list_agencies(ctx, me), lambda a: a.name, cursor, limit)


@router.get("/networks", summary="Networks you may see")
def networks(ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    return page(directory.list_networks(ctx, me), lambda n: n.name, cursor, limit)


@router.get("/tokens", summary="Your tokens by name (never the token itself)")
def tokens(
    ctx: Context,
    me: Me,
    include_inactive: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    found = directory.list_tokens(ctx, me, include_inactive=include_inactive)
    return page(found, lambda t: t.id, cursor, limit)


@router.get("/searches", summary="Searches: yours, or your agency's, with filters")
def searches(
    ctx: Context,
    me: Me,
    mine: bool = False,
    case_number: Text = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO date or time")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO date or time")] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    query = SearchQuery(mine, case_number, since, until, status, MAX_LISTED)
    found = listings.find_searches(ctx, me, query)
    return page(found, lambda s: s.search_id, cursor, limit)


@router.get("/cases", summary="Your agency's cases with their searches")
def cases(ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    return page(listings.list_cases(ctx, me), lambda c: c.case_number, cursor, limit)
