"""The web app's pages, grouped by what people do: their account, home and inbox, searches,
cases, approvals, the reviews waiting and second reviews asked for, the audit log, galleries and
their ingestion jobs, and an agency's policy, people and searches."""

from __future__ import annotations

from fastapi import APIRouter

from facetrail.web.routes import (
    access,
    account,
    agencies,
    agency,
    approvals,
    audit,
    cases,
    erasures,
    galleries,
    home,
    jobs,
    oversight,
    people,
    policy,
    receipts,
    reviews,
    searches,
    sources,
    tokens,
    transparency,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _part in (
    account.router,
    tokens.router,
    home.router,
    searches.router,
    cases.router,
    approvals.router,
    reviews.router,
    audit.router,
    galleries.router,
    sources.router,
    jobs.router,
    policy.router,
    people.router,
    access.router,
    agencies.router,
    agency.router,
    oversight.router,
    transparency.router,
    receipts.router,
    erasures.router,
):
    router.include_router(_part, include_in_schema=False)
