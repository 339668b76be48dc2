"""What revoking another person's sign-ins is sent: why, and which one (none: all)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from facetrail.edge.bodies import Body

__all__ = ["AccessRevocation"]


class AccessRevocation(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="Why (they read it)")]
    #: one token's id as listed; none: every working sign-in and token of the person
    token: Annotated[str | None, Field(min_length=1, max_length=64)] = None
