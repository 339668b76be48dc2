"""The audit log: verification status, checkpoints, inclusion and consistency proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from facetrail.api.deps import Context, Me
from facetrail.governance.verify import VerifyReport
from facetrail.services import audit, audit_entries
from facetrail.services.audit import ConsistencyProof, InclusionProof
from facetrail.services.audit_entries import MAX_ENTRIES, AuditEntryQuery
from facetrail.services.views import plain

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


@router.get("/entries", summary="Entries with filters, oldest first (cursor: after)")
def entries(
    ctx: Context,
    me: Me,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=80, description="a kind or its start")] = None,
    subject: Annotated[str | None, Query(max_length=500)] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO time")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO time")] = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="entries after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES)] = 100,
) -> dict[str, Any]:
    """Auditors and agency heads: entries by people of their agency; system admins: all.
    Reading is an ``audit.read`` entry; a refusal too."""
    query = AuditEntryQuery(actor, kind, subject, since, until, after, limit)
    found = audit_entries.list_entries(ctx, me, query)
    more = len(found) == limit
    return {
        "items": plain(found),
        "next_after": found[-1].seq if more and found else None,
    }
