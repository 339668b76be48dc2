"""Agency policy: the current version, its history with what each change relaxed, and
changes (the head or a system admin; the network's operator may tighten, never relax)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from facetrail.api.pages import Cursor, Limit, page
from facetrail.edge.bodies.oversight import Amendment, RelaxationDecision
from facetrail.edge.deps import Context, Me
from facetrail.services.oversight import policy, policy_proposals
from facetrail.services.oversight.policy import PolicyInfo
from facetrail.services.oversight.policy_proposals import Relaxation

router = APIRouter(tags=["policy"])

Agency = Annotated[str, Path(min_length=1, max_length=200)]
RelaxationId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/agencies/{agency}/policy", response_model=PolicyInfo, summary="Current policy")
def show(agency: Agency, ctx: Context, me: Me) -> PolicyInfo:
    return policy.show_policy(ctx, me, agency)


@router.get("/agencies/{agency}/policy/history", summary="Every version, oldest first")
def history(
    agency: Agency, ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    return page(policy.policy_history(ctx, me, agency), lambda p: p.version, cursor, limit)


@router.patch("/agencies/{agency}/policy", response_model=PolicyInfo, summary="Amend policy")
def amend(agency: Agency, body: Amendment, ctx: Context, me: Me) -> PolicyInfo:
    """A new version changing only the given fields; read and written in one locked
    transaction. The head is told what it relaxes; a change that relaxes the oversight (alert
    rules, approvals) is only proposed (``proposal``) until a second person confirms it.
    Audited, refusals too."""
    return policy.amend_policy(ctx, me, agency, body.changes, body.reason)


@router.get(
    "/agencies/{agency}/relaxations",
    response_model=list[Relaxation],
    summary="Proposed relaxations of the agency's oversight, newest first",
)
def relaxations(
    agency: Agency, ctx: Context, me: Me, status: str | None = None
) -> list[Relaxation]:
    return policy_proposals.list_relaxations(ctx, me, agency, status)


@router.post(
    "/relaxations/{relaxation_id}/confirmation",
    response_model=Relaxation,
    summary="Confirm a relaxation (a second person outside its proposer's say-so)",
)
def confirm(
    relaxation_id: RelaxationId, body: RelaxationDecision, ctx: Context, me: Me
) -> Relaxation:
    """It becomes the agency's next policy version now. Audited, refusals too."""
    return policy_proposals.confirm_relaxation(ctx, me, relaxation_id, body.note)


@router.post(
    "/relaxations/{relaxation_id}/refusal",
    response_model=Relaxation,
    summary="Refuse a relaxation: the policy stays as it is",
)
def refuse(
    relaxation_id: RelaxationId, body: RelaxationDecision, ctx: Context, me: Me
) -> Relaxation:
    return policy_proposals.refuse_relaxation(ctx, me, relaxation_id, body.note)
