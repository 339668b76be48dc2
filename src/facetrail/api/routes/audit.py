"""The audit log: verification status, checkpoints (listed, made now, exported), the public
key, inclusion and consistency proofs, and entries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from facetrail.edge.deps import Context, Me
from facetrail.governance.verify import VerifyReport
from facetrail.services.audit import audit_entries
from facetrail.services.audit import log as audit
from facetrail.services.audit.audit_entries import MAX_ENTRIES, AuditEntryQuery
from facetrail.services.audit.log import ConsistencyProof, InclusionProof
from facetrail.services.views import plain

router = APIRouter(tags=["audit"], prefix="/audit")

#: The file name an export is offered under (``audit verify --published FILE`` reads it).
EXPORT_FILE = "facetrail-checkpoints.json"


class CheckpointInfo(BaseModel):
    """A checkpoint in its published form (``audit checkpoint --json``, ``audit export``)."""

    tree_size: int
    root: str
    at: str
    note: str


@router.get("/verify", response_model=VerifyReport, summary="Verify the whole log now")
def verify(ctx: Context, me: Me) -> VerifyReport:
    """Auditors, agency heads and system admins; audited (``audit.verify``), refusals too."""
    return audit.audit_status(ctx, me)


@router.get("/checkpoints", summary="Signed checkpoints (C2SP signed notes)")
def checkpoints(ctx: Context, me: Me) -> list[dict[str, Any]]:
    del me  # public by design: what witnesses and outside readers hold the log to
    return audit.checkpoint_list(ctx)


@router.post(
    "/checkpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckpointInfo,
    summary="Make and sign a checkpoint now (auditors, system admins)",
)
def make_checkpoint(ctx: Context, me: Me) -> dict[str, Any]:
    """Covers every entry up to its own ``audit.checkpoint`` entry and is pushed to the
    witnesses. 503 ``audit_signing_key_unavailable`` where this server does not hold the
    signing key (only the checkpointer may)."""
    return audit.make_checkpoint_for(ctx, me).to_json()


@router.get(
    "/public-key",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    summary="The log's public key (a C2SP vkey) for verifiers and witnesses",
)
def public_key(ctx: Context, me: Me) -> Response:
    del me  # public by design: what anyone checks the checkpoints with
    return Response(audit.public_key(ctx).encode() + "\n", media_type="text/plain")


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
    summary="The signed checkpoints as a file to publish (audit verify --published)",
)
def export(ctx: Context, me: Me) -> Response:
    del me  # the same public checkpoints as GET /audit/checkpoints, as a download
    headers = {"Content-Disposition": f'attachment; filename="{EXPORT_FILE}"'}
    return Response(audit.export_checkpoints(ctx), media_type="application/json", headers=headers)


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
