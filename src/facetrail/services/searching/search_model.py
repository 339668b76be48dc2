"""The typed requests and results of searching: probes, candidates with their provenance,
what produced them, and a stored search as people see it.

Plain data; ``services.searching.search`` is the only door that fills them.
"""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.governance.credentials import Principal
from facetrail.governance.policy import Policy
from facetrail.models.calibration import FalseMatchEstimate

LEAD_NOTICE = (
    "Results are investigative leads only, never an identification: "
    "they must be reviewed by trained people and corroborated."
)


@dataclass(frozen=True)
class ProbeImage:
    name: str
    data: bytes


@dataclass(frozen=True)
class ProbeFace:
    probe: str
    index: int
    bbox: tuple[float, float, float, float]
    detector_score: float
    inter_eye_px: float
    blur: float
    yaw_deg: float
    used: bool
    #: what makes it poor to search, in words (``governance.probe_quality``); none: fit
    warnings: tuple[str, ...] = ()
    #: its photo is a crowd probe: why, and what the policy does with it, in words
    crowd: str | None = None


@dataclass(frozen=True)
class CandidateSource:
    name: str
    kind: str
    legal_basis: str
    supplied_by: str
    collected_at: str


@dataclass(frozen=True)
class SearchRequest:
    requester: Principal
    case_number: str
    offense: str
    justification: str
    galleries: tuple[str, ...]
    probes: tuple[ProbeImage, ...]
    #: for a network operator: the member agency the search runs for
    on_behalf_of: str | None = None
    top: int = 50
    #: Face to search in each probe (0 = largest, the default).
    face: int | None = None
    #: the requester attests that the search does not target anyone for exercising protected
    #: rights (``governance.attestation.ATTESTATION``); a search without it is refused
    attested: bool = False
    #: under an offense category the policy marks as close to protected activity: the
    #: conduct, apart from the protected activity, the search is about (a second reason)
    protected_reason: str = ""


@dataclass(frozen=True)
class ReviewView:
    stage: int
    reviewer: str
    decision: str
    note: str
    at: str


@dataclass(frozen=True)
class Candidate:
    id: int
    gallery: str
    rank: int
    score: float
    false_match: FalseMatchEstimate | None
    template_id: int
    image_sha256: str
    image_name: str
    subject_ref: str | None
    face_index: int
    bbox: tuple[float, float, float, float]
    source: CandidateSource
    crop_jpeg: bytes | None
    #: the reviews this viewer may see (another reviewer's call stays hidden until the
    #: viewer has made their own)
    reviews: tuple[ReviewView, ...] = ()
    #: a tombstone: the person was erased (when, and the receipt's id); their image, face
    #: and name are gone, the candidate stays so the case record is still explained
    erased: Tombstone | None = None


@dataclass(frozen=True)
class Tombstone:
    erased_at: str
    receipt_id: str


@dataclass(frozen=True)
class Producer:
    """What produced one gallery's candidates."""

    pack: str
    index: str
    size: int


@dataclass(frozen=True)
class SearchResult:
    search_id: int
    #: pending | denied | failed | done
    status: str
    agency: str
    requester: str
    case_number: str
    offense: str
    galleries: list[str]
    produced_by: dict[str, Producer]
    probe_faces: list[ProbeFace]
    fused_probes: int
    candidates: list[Candidate]
    second_review: bool
    outcome: str | None
    #: how long the search itself took (from its ``search.run`` entry: never the wait for a
    #: supervisor's approval); 0 when it has not run
    seconds: float
    notice: str = LEAD_NOTICE
    #: candidates left out because they are faces of people on the opt-out list (erased with
    #: their consent); the ``search.run`` entry names the entries that put them there
    withheld: int = 0
    #: the supervisor who approved or denied it, and their note (None: no decision asked)
    decided_by: str | None = None
    decision_note: str | None = None
    #: who closed it as a lead or no lead, and their note
    outcome_by: str | None = None
    outcome_note: str | None = None
    #: the policy's bar for a likely candidate when it ran: a calibrated false-match rate at
    #: most this (``Policy.likely_false_match_rate``); the others are shown as unlikely
    likely_false_match_rate: float = Policy().likely_false_match_rate
    #: a crowd probe (a demonstration, an assembly): the most faces fit to search in one of
    #: its photos, which made it wait for a supervisor's approval (None: not a crowd)
    crowd_faces: int | None = None
    #: the words its requester attested to (None: asked before attestations were), and the
    #: second, named reason its offense (marked as close to protected activity) needed
    attestation: str | None = None
    protected_reason: str | None = None
