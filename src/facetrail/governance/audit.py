"""The audit log: typed events appended, in the caller's transaction, as Merkle leaves.

An action and its audit entry are written in the same database transaction, so no action
exists without its entry. Each entry's canonical bytes (sorted-key JSON of seq, time, actor,
kind, subject, details) are the Merkle leaf; checkpoints sign the tree's size and root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from facetrail.governance.merkle import leaf_hash
from facetrail.store.schema import AuditEntryRow


@dataclass(frozen=True)
class AuditEvent:
    """Something that happened: who did what to which thing, with details (JSON-able)."""

    actor: str
    kind: str
    subject: str
    details: dict[str, Any] = field(default_factory=dict)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_bytes(seq: int, at: str, actor: str, kind: str, subject: str, details: str) -> bytes:
    """The exact bytes that are hashed into the tree for one entry."""
    return canonical_json(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "kind": kind,
            "subject": subject,
            "details": json.loads(details),
        }
    ).encode()


def row_bytes(row: AuditEntryRow) -> bytes:
    return entry_bytes(row.seq, row.at, row.actor, row.kind, row.subject, row.details)


@dataclass(frozen=True)
class AppendedEntry:
    seq: int
    at: str
    leaf_hash: bytes


# Built once: appends sit on every action's path, and SQLAlchemy Core with prebuilt
# statements costs a fraction of an ORM flush (bench/audit_cost.py).
_TABLE = cast(Table, AuditEntryRow.__table__)
_NEXT_SEQ = select(func.coalesce(func.max(_TABLE.c.seq), 0))
_INSERT = insert(_TABLE)


def append(session: Session, event: AuditEvent, *, at: datetime | None = None) -> AppendedEntry:
    """Append ``event`` inside the caller's open transaction.

    The position is max(seq)+1, and ``seq`` is the primary key: two writers that raced for
    the same position cannot both commit (the second fails and its action rolls back with it).
    """
    connection = session.connection()  # Core, on the session's transaction
    seq = int(connection.execute(_NEXT_SEQ).scalar_one()) + 1
    when = (at or datetime.now(UTC)).isoformat(timespec="microseconds")
    details = canonical_json(event.details)
    digest = leaf_hash(entry_bytes(seq, when, event.actor, event.kind, event.subject, details))
    session.execute(
        _INSERT,
        {
            "seq": seq,
            "at": when,
            "actor": event.actor,
            "kind": event.kind,
            "subject": event.subject,
            "details": details,
            "leaf_hash": digest,
        },
    )
    return AppendedEntry(seq, when, digest)
