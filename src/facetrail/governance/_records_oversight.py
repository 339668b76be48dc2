"""The record checks of oversight and people's rights: stored alerts, an agency's open-case
list, erasure requests (their state, receipt, blocklist entries and decisions) and published
evaluations, each held to the entries that made them (``governance.records``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance._record_entries import entry_details, logged_entries
from facetrail.store.schema import (
    AlertRow,
    AuditEntryRow,
    BlocklistEntry,
    ErasureMatch,
    ErasureRow,
    EvaluationRow,
)


def alert_problem(session: Session, row: AlertRow, agency: str | None) -> str | None:
    """Why a stored alert disagrees with its entries: raised as it says (rule, key, summary,
    user, searches, agency), and acknowledged and closed exactly as recorded, with the notes
    recorded (an alert closed in the database, or made to say less, is tampering)."""
    subject = f"alert:{row.id}"
    raised = logged_entries(session, subject, "alert.raise")
    if len(raised) != 1:
        return "alert has no single raise entry"
    said = entry_details(raised[0])
    if (
        raised[0].agency != agency
        or said.get("rule") != row.rule
        or said.get("key") != row.key
        or said.get("summary") != row.summary
        or said.get("user") != row.username
        or said.get("searches") != json.loads(row.searches or "[]")
    ):
        return "alert differs from its raise entry"
    for kind, note in (
        ("alert.acknowledge", row.acknowledge_note),
        ("alert.close", row.close_note),
    ):
        steps = logged_entries(session, subject, kind)
        if len(steps) > 1 or (entry_details(steps[0]).get("note") if steps else None) != note:
            return f"alert's {kind.removeprefix('alert.')} differs from its entry"
    closed = bool(logged_entries(session, subject, "alert.close"))
    acknowledged = row.acknowledge_note is not None
    expected = "closed" if closed else "acknowledged" if acknowledged else "open"
    if row.status != expected:
        return f"alert is {row.status}, its entries say {expected}"
    return None


def open_cases_digest(numbers: Sequence[str]) -> str:
    """SHA-256 of an open-case list (sorted, one number a line): what ``cases.import`` logs,
    so that a case number slipped into the list behind facetrail's back is caught."""
    return hashlib.sha256("\n".join(sorted(numbers)).encode()).hexdigest()


def open_cases_problem(session: Session, agency: str, numbers: Sequence[str]) -> str | None:
    """Why an agency's stored open-case list is not the one its last import logged."""
    last = session.scalars(
        select(AuditEntryRow)
        .where(AuditEntryRow.kind == "cases.import", AuditEntryRow.subject == agency)
        .order_by(AuditEntryRow.seq.desc())
        .limit(1)
    ).first()
    logged = entry_details(last).get("digest") if last is not None else open_cases_digest([])
    if logged != open_cases_digest(numbers):
        return "open-case list differs from the one its last import logged"
    return None


def erasure_problem(session: Session, row: ErasureRow) -> str | None:
    """Why a stored erasure request disagrees with its entries: its state, its receipt, and
    the blocklist entries it keeps (one deleted would let the person be enrolled again)."""
    subject = f"erasure:{row.id}"
    if len(logged_entries(session, subject, "erasure.open")) != 1:
        return "erasure request has no single open entry"
    done = logged_entries(session, subject, "erasure.done")
    cancelled = logged_entries(session, subject, "erasure.cancel")
    opened = entry_details(logged_entries(session, subject, "erasure.open")[0])
    approved = logged_entries(session, subject, "erasure.approve")
    waiting = opened.get("approval_needed", False) and not approved
    expected = "done" if done else "cancelled" if cancelled else "requested" if waiting else "open"
    if row.status != expected:
        return f"erasure request is {row.status}, its entries say {expected}"
    kept = sorted(
        hashlib.sha256(bytes(v)).hexdigest()
        for v in session.scalars(
            select(BlocklistEntry.vector).where(BlocklistEntry.erasure_id == row.id)
        )
    )
    said = entry_details(done[0]) if done else {}
    if done and (
        said.get("receipt_id") != row.receipt_id
        or said.get("blocklist_entries", 0) != len(kept)
        or said.get("blocklist", kept) != kept
    ):
        return "erasure differs from its entry (receipt or blocklist entries)"
    if not done and kept:
        return "blocklist entries of an erasure that is not done"
    return _decisions_problem(session, row, subject)


def _decisions_problem(session: Session, row: ErasureRow, subject: str) -> str | None:
    """Why the faces found for a request, or the calls on them, are not those logged."""
    opened = entry_details(logged_entries(session, subject, "erasure.open")[0])
    approved = logged_entries(session, subject, "erasure.approve")
    found = entry_details(approved[0]).get("matches") if approved else opened.get("matches")
    logged: dict[int, str] = {}
    for entry in logged_entries(session, subject, "erasure.decide"):
        said = entry_details(entry)
        logged |= {int(i): "confirmed" for i in said.get("confirmed", [])}
        logged |= {int(i): "rejected" for i in said.get("rejected", [])}
    stored = dict(
        session.execute(
            select(ErasureMatch.id, ErasureMatch.decision).where(ErasureMatch.erasure_id == row.id)
        ).all()
    )
    if len(stored) != found:
        return f"{len(stored)} faces stored for the request, its entries found {found}"
    if any(logged.get(mid) != decision for mid, decision in stored.items()):
        return "a face's confirmation differs from the decisions logged"
    return None


def evaluation_problem(session: Session, row: EvaluationRow) -> str | None:
    """Why a recorded evaluation (published accuracy) is not what its entry recorded."""
    entry = session.get(AuditEntryRow, row.audit_seq) if row.audit_seq is not None else None
    said = entry_details(entry) if entry is not None else {}
    if (
        entry is None
        or entry.kind != "evaluation.record"
        or entry.subject != row.pack
        or said.get("mask") != row.mask
        or said.get("dataset") != row.dataset
        or said.get("figures") != json.loads(row.figures)
    ):
        return "evaluation differs from the entry that recorded it"
    return None
