"""What each fault of ``faults.py`` cost, read from the answers the clients got, the server's
log and the audit log: requests by status, tracebacks in the log and to clients, entries
written, searches lost or half-written, and the time to recover; and the table it prints."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from _fault_load import Answer
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow, SearchRecord

#: A search's request entry, and the entries that say how it ended.
REQUEST = "search.request"
ENDED = ("search.run", "search.failed")
#: Statuses a search stays in, visibly, without a run: waiting for approval, or refused.
VISIBLY_WAITING = ("pending", "denied", "failed")

Figures = dict[str, Any]


def audit_size(ctx: AppContext) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.coalesce(func.max(AuditEntryRow.seq), 0))) or 0)


def entries_by_kind(ctx: AppContext, after_seq: int) -> dict[str, int]:
    with ctx.sessions() as session:
        rows = session.execute(
            select(AuditEntryRow.kind, func.count())
            .where(AuditEntryRow.seq > after_seq)
            .group_by(AuditEntryRow.kind)
        ).all()
    return {str(kind): int(n) for kind, n in sorted(rows)}


@dataclass(frozen=True)
class Window:
    """Where a phase began: its time, the audit log's size, and the server log's length."""

    started: float
    seq: int
    log: Path
    log_offset: int

    @classmethod
    def open(cls, ctx: AppContext, log: Path) -> Window:
        return cls(time.monotonic(), audit_size(ctx), log, log.stat().st_size)

    def tracebacks(self) -> int:
        with self.log.open("rb") as fh:
            fh.seek(self.log_offset)
            return fh.read().count(b"Traceback")


def _kinds_of(ctx: AppContext, subjects: list[str]) -> dict[str, set[str]]:
    """subject -> the kinds of search entries it has (requests and how they ended)."""
    found: dict[str, set[str]] = {s: set() for s in subjects}
    with ctx.sessions() as session:
        for start in range(0, len(subjects), 500):
            part = subjects[start : start + 500]
            for subject, kind in session.execute(
                select(AuditEntryRow.subject, AuditEntryRow.kind).where(
                    AuditEntryRow.subject.in_(part), AuditEntryRow.kind.in_((REQUEST, *ENDED))
                )
            ):
                found[str(subject)].add(str(kind))
    return found


def searches_lost(ctx: AppContext, answers: list[Answer]) -> int:
    """Searches answered 201 without both their ``search.request`` and an entry that says how
    they ended."""
    subjects = [f"search:{a.search_id}" for a in answers if a.search_id is not None]
    lost = sum(1 for a in answers if a.status == 201 and a.search_id is None)
    kinds = _kinds_of(ctx, subjects)
    return lost + sum(1 for s in subjects if REQUEST not in kinds[s] or not kinds[s] & set(ENDED))


def half_written(ctx: AppContext, after_seq: int) -> int:
    """``search.request`` entries since ``after_seq`` with no entry saying how the search
    ended, whose search is not visibly waiting (pending approval, denied, failed)."""
    with ctx.sessions() as session:
        subjects = list(
            session.scalars(
                select(AuditEntryRow.subject).where(
                    AuditEntryRow.seq > after_seq, AuditEntryRow.kind == REQUEST
                )
            )
        )
    kinds = _kinds_of(ctx, [str(s) for s in subjects])
    open_ids = [int(s.split(":")[1]) for s, k in kinds.items() if not k & set(ENDED)]
    if not open_ids:
        return 0
    with ctx.sessions() as session:
        statuses = session.scalars(select(SearchRecord.status).where(SearchRecord.id.in_(open_ids)))
        return sum(1 for status in statuses if status not in VISIBLY_WAITING)


def phase_figures(
    ctx: AppContext,
    window: Window,
    answers: list[Answer],
    fault_end: float | None,
    recovered_s: float | None,
) -> Figures:
    statuses = Counter(a.status for a in answers)
    after_fault = [a for a in answers if fault_end is not None and a.sent >= fault_end]
    recovered_at = None if recovered_s is None or fault_end is None else fault_end + recovered_s
    return {
        "seconds": round(time.monotonic() - window.started, 1),
        "requests": len(answers),
        "by_status": {str(k): v for k, v in sorted(statuses.items())},
        "server_log_tracebacks": window.tracebacks(),
        "tracebacks_or_500s_to_clients": sum(1 for a in answers if a.status == 500 or a.traceback),
        "audit_entries_written": audit_size(ctx) - window.seq,
        "searches_lost_or_half_written": searches_lost(ctx, answers)
        + half_written(ctx, window.seq),
        "recover_seconds": recovered_s,
        "503s_after_recovery": sum(
            1
            for a in after_fault
            if a.status == 503 and recovered_at is not None and a.sent > recovered_at
        ),
    }


COLUMNS = (
    ("requests", "requests"),
    ("by status", "by_status"),
    ("log tracebacks", "server_log_tracebacks"),
    ("500s/tracebacks to clients", "tracebacks_or_500s_to_clients"),
    ("entries written", "audit_entries_written"),
    ("searches lost", "searches_lost_or_half_written"),
    ("recover s", "recover_seconds"),
)


def print_table(figures: Figures) -> None:
    rows = [("phase", *(title for title, _ in COLUMNS))]
    for name, phase in figures["phases"].items():
        if "skipped" in phase:
            rows.append((name, f"skipped: {phase['skipped']}", *[""] * (len(COLUMNS) - 1)))
            continue
        cells = []
        for _, key in COLUMNS:
            value = phase.get(key)
            if isinstance(value, dict):
                value = " ".join(f"{k}:{v}" for k, v in value.items())
            cells.append("-" if value is None else str(value))
        rows.append((name, *cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))
    for name, phase in figures["phases"].items():
        notes = {k: v for k, v in phase.items() if k not in dict(COLUMNS).values()}
        notes.pop("by_status", None)
        if notes:
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in notes.items()))
    verify = figures["audit_verify"]
    print(f"audit verify: {'ok' if verify['ok'] else 'FAILED'} ({verify['entries']} entries)")
    print(f"server source: {figures['server_source']}")
