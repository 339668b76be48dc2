"""The web app's pages, grouped by what people do: their account, home and inbox, searches,
approvals."""

from __future__ import annotations

from fastapi import APIRouter

from facetrail.web.routes import account, approvals, home, searches

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _part in (account.router, home.router, searches.router, approvals.router):
    router.include_router(_part, include_in_schema=False)
