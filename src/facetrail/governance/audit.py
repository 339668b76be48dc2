"""The audit log: typed events appended, in the caller's transaction, as Merkle leaves.

An action and its audit entry are written in the same database transaction, so no action
exists without its entry. Each entry's canonical bytes (sorted-key JSON of seq, time, actor,
kind, subject, details) are the Merkle leaf; checkpoints sign the tree's size and root.
Appends lock the one log-head row (``audit_head``), which holds the size and the Merkle
frontier, so positions are taken one at a time and the root is known without a re-read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from facetrail.governance.merkle import CompactRange, leaf_hash
from facetrail.store.schema import AuditEntryRow, AuditHeadRow


@dataclass(frozen=True)
class AuditEvent:
    """Something that happened: who did what to which thing, with details (JSON-able)."""

    actor: str
    kind: str
    subject: str
    details: dict[str, Any] = field(default_factory=dict)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _DuplicateKeyError(
            f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}"
        )
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def canonical_problem(details: str) -> str | None:
    """Why stored ``details`` are not exactly their canonical bytes, or None when they are.

    Parsing with json.loads alone would let two different stored strings hash alike (a
    duplicate key keeps its last value; spacing and number forms are re-serialised), so the
    stored text must be byte for byte the canonical form of what it parses to.
    """
    try:
        value = json.loads(details, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKeyError as exc:
        return f"details hold a {exc}"
    except ValueError:
        return "details are not JSON"
    if not isinstance(value, dict):
        return "details are not a JSON object"
    if canonical_json(value) != details:
        return "details are not in canonical form (spacing, key order or number form differ)"
    return None


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
_HEAD = cast(Table, AuditHeadRow.__table__)
_INSERT = insert(_TABLE)
_LOCK_HEAD = select(_HEAD.c.size, _HEAD.c.frontier).where(_HEAD.c.id == 1).with_for_update()
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1)
_LEAVES = select(_TABLE.c.leaf_hash).order_by(_TABLE.c.seq)


def locked_head(session: Session) -> CompactRange:
    """The log head, locked until the caller's transaction ends (a row lock on PostgreSQL; on
    SQLite the transaction already holds the write lock). A home made before the head existed
    gets its head computed once from the log."""
    connection = session.connection()
    row = connection.execute(_LOCK_HEAD).first()
    if row is not None:
        return CompactRange.from_bytes(int(row.size), bytes(row.frontier))
    compact = CompactRange()
    for (digest,) in connection.execute(_LEAVES):
        compact.push(bytes(digest))
    connection.execute(
        insert(_HEAD), {"id": 1, "size": compact.size, "frontier": compact.to_bytes()}
    )
    return compact


def append(session: Session, event: AuditEvent, *, at: datetime | None = None) -> AppendedEntry:
    """Append ``event`` inside the caller's open transaction.

    The head row is locked, so appends take positions one at a time: the entry goes to
    size+1 and the head's frontier takes its leaf, both committed or rolled back with the
    action.
    """
    head = locked_head(session)
    seq = head.size + 1
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
    head.push(digest)
    session.execute(_MOVE_HEAD, {"size": head.size, "frontier": head.to_bytes()})
    return AppendedEntry(seq, when, digest)
