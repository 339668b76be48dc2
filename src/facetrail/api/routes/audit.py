"""The audit log: verification status, checkpoints, inclusion and consistency proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from facetrail.api.deps import Context, Me
from facetrail.governance.verify import VerifyReport
from facetrail.services import audit
from facetrail.services.audit import ConsistencyProof, InclusionProof

router = APIRouter(tags=["audit"], prefix="/audit")


@router.get("/verify", response_model=VerifyReport, summary="Verify the whole log now")
def verify(ctx: Context, me: Me) -> VerifyReport:
    """Auditors, agency heads and system admins; audited (``audit.verify``), refusals too."""
    return audit.audit_status(ctx, me)


@router.get("/checkpoints", summary="Signed checkpoints (C2SP signed notes)")
def checkpoints(ctx: Context, me: Me) -> list[dict[str, Any]]:
    del me  # public by design: what witnesses and outside readers hold the log to
    return audit.checkpoint_list(ctx)


@router.get("/entries/{entry}/proof", response_model=InclusionProof, summary="Inclusion proof")
def inclusion(
    entry: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: Context, me: Me
) -> InclusionProof:
    del me  # hashes only: no entry's content is disclosed
    return audit.prove_entry(ctx, entry)


@router.get("/consistency", response_model=ConsistencyProof, summary="Consistency proof")
def consistency(
    ctx: Context,
    me: Me,
    old: Annotated[int, Query(ge=1, le=2**31, description="older checkpoint (1-based)")],
    new: Annotated[int, Query(ge=1, le=2**31, description="newer checkpoint (1-based)")],
) -> ConsistencyProof:
    del me
    return audit.prove_consistency(ctx, old, new)
