"""What the oversight actions are sent: an erasure request opened, its decisions and notes,
alerts handled, open case numbers, and policy amendments and relaxation decisions."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from facetrail.edge.bodies import Body

__all__ = [
    "AlertNote",
    "Amendment",
    "ErasureCancel",
    "ErasureDecisions",
    "ErasureNote",
    "ErasureOpening",
    "HoldDecision",
    "OpenCases",
    "RelaxationDecision",
]

Text = Annotated[str, Field(max_length=2000)]


class ErasureOpening(Body):
    """A person's erasure request, sent as a multipart form with their photos beside it (the
    photos are read as uploads, not into the model)."""

    reference: Annotated[
        str, Field(max_length=200, description="a ticket number, not the person's name")
    ]
    identity_check: Annotated[
        str, Field(max_length=5000, description="how the person's identity was checked")
    ]
    consent: Annotated[bool, Field(description="keep an opt-out template")] = False


class ErasureDecisions(Body):
    confirmed: Annotated[list[int], Field(default_factory=list, max_length=10_000)]
    rejected: Annotated[list[int], Field(default_factory=list, max_length=10_000)]


class ErasureNote(Body):
    note: Text


class HoldDecision(Body):
    #: True: the image may go; False: it is kept
    release: bool
    note: Text


class ErasureCancel(Body):
    reason: Text


class AlertNote(Body):
    note: Annotated[str, Field(max_length=2000, description="what was found or done")]


class OpenCases(Body):
    case_numbers: Annotated[list[str], Field(max_length=100_000)]


class Amendment(Body):
    changes: Annotated[
        dict[str, Any], Field(description="Policy fields to change (names as GET shows them)")
    ]
    reason: Text


class RelaxationDecision(Body):
    note: Text
