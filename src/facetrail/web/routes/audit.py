"""The audit log for auditors, agency heads and system admins: its entries with filters, one
entry with its inclusion proof, and the log's verification with its signed checkpoints; the
services the API's ``/audit`` routes and the CLI's ``audit`` commands call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from facetrail.api.deps import Context
from facetrail.errors import FacetrailError
from facetrail.governance.credentials import Role
from facetrail.services.audit import audit_entries, entry_proofs
from facetrail.services.audit import log as audit
from facetrail.web.audit_view import PAGE_SIZE, LogFilters, details_text
from facetrail.web.deps import Signed, Viewer
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

Seq = Annotated[int, Path(ge=1, le=2**63 - 1)]
Short = Annotated[str, Query(max_length=200)]


@router.get("/audit")
def log(
    ctx: Context,
    me: Signed,
    actor: Short = "",
    kind: Annotated[str, Query(max_length=80)] = "",
    subject: Annotated[str, Query(max_length=500)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> Response:
    """Entries with filters, oldest first, a page at a time (``audit_entries.list_entries``:
    auditors and heads read their agency's people's entries, system admins all; each read is
    an ``audit.read`` entry, a refusal ``audit.read.refused``)."""
    filters = LogFilters(actor, kind, subject, since, until)
    try:
        query = filters.query(after)
    except FacetrailError as error:
        return page(
            "audit_log.html",
            viewer=me,
            current="/audit",
            filters=filters,
            entries=None,
            after=after,
            next_href=None,
            first_href=None,
            details_text=details_text,
            scope=_scope(me),
            error=error,
        )
    entries = audit_entries.list_entries(ctx, me.principal, query)
    more = len(entries) == PAGE_SIZE
    return page(
        "audit_log.html",
        viewer=me,
        current="/audit",
        filters=filters,
        entries=entries,
        after=after,
        next_href=filters.href(entries[-1].seq) if more else None,
        first_href=filters.href() if after else None,
        details_text=details_text,
        scope=_scope(me),
    )


def _scope(me: Viewer) -> str:
    """Whose entries the viewer reads, as ``list_entries`` decides it."""
    if me.principal.has(Role.SYSTEM_ADMIN):
        return "You read every entry."
    return f"You read the entries of {me.principal.agency}'s people."


@router.get("/audit/entries/{seq}")
def entry(seq: Seq, ctx: Context, me: Signed) -> Response:
    """One entry and its inclusion proof (``entry_proofs.show_entry``: read as the log's
    filters read it, so another agency's entry answers as not found; audited)."""
    shown = entry_proofs.show_entry(ctx, me.principal, seq)
    return page(
        "audit_entry.html",
        viewer=me,
        current="/audit",
        shown=shown,
        details=shown.entry.details,
        details_text=details_text,
    )


@router.get("/audit/verification")
def verification(ctx: Context, me: Signed) -> Response:
    """The whole log verified now (``audit.audit_status``: auditors, heads and system admins;
    audited as ``audit.verify``, refusals too) and its signed checkpoints (public)."""
    report = audit.audit_status(ctx, me.principal)
    return page(
        "audit_verification.html",
        viewer=me,
        current="/audit",
        report=report,
        checkpoints=audit.checkpoint_list(ctx)[::-1],
    )


__all__ = ["router"]
