"""What the search actions are sent besides the probes: a supervisor's decision, a
reviewer's call, the outcome, and a colleague asked for the second review."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from facetrail.edge.bodies import Body

__all__ = ["OutcomeBody", "ReviewBody", "SearchDecision", "SecondReviewAsk"]

Note = Annotated[str, Field(max_length=5000)]


class SearchDecision(Body):
    approve: bool
    note: Note = ""


class ReviewBody(Body):
    decision: Literal["possible_match", "not_a_match", "inconclusive"]
    note: Note


class SecondReviewAsk(Body):
    colleague: Annotated[str, Field(min_length=1, max_length=200)]


class OutcomeBody(Body):
    outcome: Literal["lead", "no_lead"]
    note: Note
