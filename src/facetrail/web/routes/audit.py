"""The audit log for auditors, agency heads and system admins: its entries with filters, one
entry with its inclusion proof, and the log's verification with its signed checkpoints; the
services the API's ``/audit`` routes and the CLI's ``audit`` commands call."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from facetrail.edge.deps import Context
from facetrail.errors import FacetrailError
from facetrail.governance.credentials import Role
from facetrail.services.audit import audit_entries, entry_proofs
from facetrail.services.audit import log as audit
from facetrail.web.audit_view import PAGE_SIZE, LogFilters, details_text
from facetrail.web.deps import Signed, Viewer
from facetrail.web.render import attachment, page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

Seq = Annotated[int, Path(ge=1, le=2**63 - 1)]
Short = Annotated[str, Query(max_length=200)]


Cursor = Annotated[int, Query(ge=0, le=2**63 - 1)]


def log_filters(
    actor: Short = "",
    kind: Annotated[str, Query(max_length=80)] = "",
    subject: Annotated[str, Query(max_length=500)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    looks: Annotated[str, Query(max_length=5)] = "",
) -> LogFilters:
    """The log's filters as its form sends them (and its CSV link, the same)."""
    return LogFilters(actor, kind, subject, since, until, looks == "1")


Filters = Annotated[LogFilters, Depends(log_filters)]


@router.get("/audit")
def log(
    ctx: Context, me: Signed, filters: Filters, after: Cursor = 0, before: Cursor = 0
) -> Response:
    """Entries with filters, newest first, a page at a time either way; the looks (reads and
    token uses) only when asked for (``audit_entries.list_entries``: auditors and heads read
    their agency's people's entries, system admins all; each read is an ``audit.read`` entry,
    a refusal ``audit.read.refused``)."""
    shown: dict[str, Any] = {
        "viewer": me,
        "current": "/audit",
        "filters": filters,
        "details_text": details_text,
        "scope": _scope(me),
        "checkpoint": _checkpoint_words(ctx),
    }
    try:
        query = filters.query(after, before)
    except FacetrailError as failed:
        return page("audit_log.html", entries=None, pages={}, error=failed, **shown)
    entries = audit_entries.list_entries(ctx, me.principal, query)
    full = len(entries) == PAGE_SIZE
    pages = {}
    if entries and (full or after):  # older ones exist below this page
        pages["Older entries"] = filters.href(before=entries[-1].seq)
    if entries and (after or before):
        pages["Newer entries"] = filters.href(after=entries[0].seq)
    if after or before:
        pages["Newest"] = filters.href()
    return page(
        "audit_log.html",
        entries=entries,
        pages=pages,
        csv_href=filters.href(path="/audit.csv"),
        **shown,
    )


@router.get("/audit.csv")
def log_csv(ctx: Context, me: Signed, filters: Filters) -> Response:
    """Every entry the filters match, newest first, as a CSV file (``audit_entries.
    export_entries``: read as the log page reads them; audited once as ``audit.export``)."""
    found = audit_entries.export_entries(ctx, me.principal, filters.query(limit=1))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["entry", "time", "actor", "kind", "subject", "agency", "details"])
    for e in found:
        row = [e.seq, e.at, e.actor, e.kind, e.subject, e.agency or "", details_text(e.details)]
        writer.writerow([_cell(str(v)) for v in row])
    return attachment(out.getvalue(), "text/csv; charset=utf-8", "audit-log.csv")


def _cell(value: str) -> str:
    """A value a spreadsheet shows as text, never runs as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _checkpoint_words(ctx: Context) -> str:
    """The log's signed state in words, from its public checkpoints."""
    checkpoints = audit.checkpoint_list(ctx)
    if not checkpoints:
        return "No checkpoint is signed yet: the log's state is not yet published."
    latest = checkpoints[-1]
    size, at = latest.get("tree_size"), str(latest.get("at", ""))
    return (
        f"The latest signed checkpoint covers the first {size} entries, signed {at[:16]} UTC: "
        "anyone holding it can check that no entry up to there was changed or removed."
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
