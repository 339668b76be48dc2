"""What the search actions are sent: a search's grounds and what it returns (sent beside the
probe files), a supervisor's decision, a reviewer's call, the outcome, and a colleague asked
for the second review."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from facetrail.edge.bodies import Body
from facetrail.governance.attestation import ATTESTATION
from facetrail.governance.credentials import Principal
from facetrail.services.searching.search_model import ProbeImage, SearchRequest

__all__ = [
    "MAX_FACE",
    "MAX_TOP",
    "OutcomeBody",
    "ReviewBody",
    "SearchAsk",
    "SearchDecision",
    "SearchGrounds",
    "SecondReviewAsk",
]

#: The most candidates a search returns from each gallery.
MAX_TOP = 500
#: The largest face number a search takes (the preview numbers the faces it finds).
MAX_FACE = 1000

Note = Annotated[str, Field(max_length=5000)]
Reason = Annotated[str, Field(max_length=5000)]


class SearchGrounds(Body):
    """Why a search is asked, all a preview needs besides the probes. Only their size is
    checked here: whether they are enough (a case number of the agency's form, an offense
    its policy allows, a long enough justification, at least one of its galleries) is the
    policy's to say, so that a refusal has its own code and is audited as ``search.refused``,
    whichever edge it came from."""

    case_number: Reason = ""
    offense: Reason = ""
    justification: Reason = ""
    galleries: Annotated[
        list[Annotated[str, Field(max_length=200)]],
        Field(default_factory=list, description="Galleries to search (at least one)"),
    ]
    #: for a network operator: the member agency the search is for
    on_behalf_of: Annotated[str | None, Field(max_length=200)] = None
    attest: Annotated[bool, Field(description=f"Required true to search: {ATTESTATION}")] = False
    protected_reason: Annotated[
        str,
        Field(
            max_length=5000,
            description="Under an offense category the agency marks as close to protected "
            "activity: the conduct, apart from that activity, the search is about",
        ),
    ] = ""

    def request(self, requester: Principal, probes: tuple[ProbeImage, ...]) -> SearchRequest:
        """The search service's request, asked by ``requester`` with these probes."""
        return SearchRequest(
            requester=requester,
            case_number=self.case_number,
            offense=self.offense,
            justification=self.justification,
            galleries=tuple(self.galleries),
            probes=probes,
            on_behalf_of=self.on_behalf_of,
            attested=self.attest,
            protected_reason=self.protected_reason,
        )


class SearchAsk(SearchGrounds):
    """A search: its grounds, how many candidates it returns and which face it searches."""

    top: Annotated[int, Field(ge=1, le=MAX_TOP, description="Candidates from each gallery")] = 50
    face: Annotated[
        int | None,
        Field(ge=0, le=MAX_FACE, description="The face to search in each probe (the largest)"),
    ] = None

    def request(self, requester: Principal, probes: tuple[ProbeImage, ...]) -> SearchRequest:
        return replace(super().request(requester, probes), top=self.top, face=self.face)


class SearchDecision(Body):
    approve: bool
    note: Note = ""


class ReviewBody(Body):
    decision: Literal["possible_match", "not_a_match", "inconclusive"]
    note: Note


class SecondReviewAsk(Body):
    #: a username, as typed (a space typed around it is not part of it)
    colleague: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]


class OutcomeBody(Body):
    outcome: Literal["lead", "no_lead"]
    note: Note
