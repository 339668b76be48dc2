"""The audit log: typed events appended, in the caller's transaction, as Merkle leaves.

An action and its audit entry are written in the same database transaction, so no action
exists without its entry. Each entry's canonical bytes (sorted-key JSON of seq, time, actor,
kind, subject, details; made in ``_entry_bytes``) are the Merkle leaf; checkpoints sign the
tree's size and root. Appends lock the one log-head row (``audit_head``), which holds the
size and the Merkle frontier, so positions are taken one at a time and the root is known
without a re-read.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    ClauseElement,
    Connection,
    Dialect,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from facetrail.governance._entry_bytes import (
    canonical_details,
    canonical_json,
    canonical_problem,
    entry_bytes,
    row_bytes,
)
from facetrail.governance.merkle import CompactRange, leaf_hash
from facetrail.store.schema import AuditEntryRow, AuditHeadRow, AuditTileHashRow

__all__ = [
    "Appended",
    "AppendedEntry",
    "AuditEvent",
    "append",
    "appended_in",
    "canonical_details",
    "canonical_json",
    "canonical_problem",
    "entry_bytes",
    "lock_and_read_head",
    "locked_head",
    "row_bytes",
    "size_at_lock",
]


@dataclass(frozen=True)
class AuditEvent:
    """Something that happened: who did what to which thing, with details (JSON-able)."""

    actor: str
    kind: str
    subject: str
    details: dict[str, Any] = field(default_factory=dict)
    #: the agency the entry concerns (a search's: the agency it ran for, even when a network
    #: operator ran it), indexed, so that an agency's figures are read by it; None: none
    agency: str | None = None


@dataclass(frozen=True)
class AppendedEntry:
    seq: int
    at: str
    leaf_hash: bytes


@dataclass(frozen=True)
class Appended:
    """What a transaction has appended so far: its first and last entries, and the last
    entry's actor and agency (who the rows it wrote are sealed under)."""

    first: int
    last: int
    actor: str
    agency: str | None


#: ``Session.info`` key: (the transaction, ``Appended``).
_APPENDED_KEY = "facetrail_audit_appended"


def appended_in(session: Session) -> Appended | None:
    """The entries this transaction has appended, or None."""
    known = session.info.get(_APPENDED_KEY)
    if known is None or known[0] is not session.get_transaction():
        return None
    done: Appended = known[1]
    return done


def _note_appended(session: Session, seq: int, event: AuditEvent) -> None:
    before = appended_in(session)
    first = before.first if before is not None else seq
    session.info[_APPENDED_KEY] = (
        session.get_transaction(),
        Appended(first, seq, event.actor, event.agency),
    )


# Appends sit on every action's path (and a search makes two), so they skip SQLAlchemy's
# per-statement machinery, about 0.1 ms a statement, more than the statements themselves
# (bench/audit_cost.py): the statements below are compiled once per dialect and run on the
# DBAPI cursor of the session's own connection, so they stay inside the caller's transaction.
_TABLE = cast(Table, AuditEntryRow.__table__)
_HEAD = cast(Table, AuditHeadRow.__table__)
_ENTRY_COLUMNS = ("seq", "at", "actor", "kind", "subject", "details", "agency", "leaf_hash")
_INSERT = insert(_TABLE).values({name: bindparam(name) for name in _ENTRY_COLUMNS})
_LOCK_HEAD = (
    select(_HEAD.c.size, _HEAD.c.frontier)
    .where(_HEAD.c.id == bindparam("head_id"))
    .with_for_update()
)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == bindparam("head_id"))
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"))
)
_LEAVES = select(_TABLE.c.leaf_hash).order_by(_TABLE.c.seq)
_TILES = cast(Table, AuditTileHashRow.__table__)
_INSERT_TILE = insert(_TILES).values(
    level=bindparam("level"), idx=bindparam("idx"), hash=bindparam("hash")
)


@dataclass(frozen=True)
class _Compiled:
    """One statement as the driver takes it: its SQL and how to lay out its parameters."""

    sql: str
    positions: tuple[str, ...] | None  # parameter names in order, or None for named styles

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> _Compiled:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        positional = compiled.positional and compiled.positiontup is not None
        return cls(compiled.string, tuple(compiled.positiontup or ()) if positional else None)

    def run(self, cursor: DBAPICursor, params: dict[str, Any]) -> None:
        if self.positions is None:
            cursor.execute(self.sql, params)
        else:
            cursor.execute(self.sql, tuple(params[name] for name in self.positions))


@dataclass(frozen=True)
class _Statements:
    lock_head: _Compiled
    insert_entry: _Compiled
    move_head: _Compiled
    #: PostgreSQL: both in one statement (the insert a CTE of the update), one round trip
    insert_and_move: _Compiled | None
    insert_tile: _Compiled


_COMPILED: dict[str, _Statements] = {}


def _statements(dialect: Dialect) -> _Statements:
    key = f"{dialect.name}+{dialect.driver}:{dialect.paramstyle}"
    found = _COMPILED.get(key)
    if found is None:
        both = _MOVE_HEAD.add_cte(_INSERT.cte("entry"))
        found = _COMPILED[key] = _Statements(
            _Compiled.of(_LOCK_HEAD, dialect),
            _Compiled.of(_INSERT, dialect),
            _Compiled.of(_MOVE_HEAD, dialect),
            _Compiled.of(both, dialect) if dialect.name == "postgresql" else None,
            _Compiled.of(_INSERT_TILE, dialect),
        )
    return found


def _read_head(cursor: DBAPICursor, statements: _Statements) -> CompactRange | None:
    statements.lock_head.run(cursor, {"head_id": 1})
    row = cursor.fetchone()
    if row is None:
        return None
    return CompactRange.from_bytes(int(row[0]), bytes(row[1]))


#: ``Session.info`` key: (the transaction, the log head as it stands in it), so that an
#: action's appends after the first need not read the head again (it is row-locked, and the
#: action holds the write lock, until the transaction ends).
_HEAD_KEY = "facetrail_audit_head"


def _known_head(session: Session) -> CompactRange | None:
    known = session.info.pop(_HEAD_KEY, None)
    if known is None or session.in_nested_transaction():
        return None
    if known[0] is not session.get_transaction():
        return None  # another transaction's (kept by reference, so never mistaken for this one)
    head: CompactRange = known[1]
    return head


def _keep_head(session: Session, head: CompactRange) -> None:
    if not session.in_nested_transaction():  # a savepoint may roll back what it appended
        session.info[_HEAD_KEY] = (session.get_transaction(), head)


def lock_and_read_head(session: Session, lock_sql: str) -> None:
    """PostgreSQL: begin, take the action lock (``lock_sql``) and read and row-lock the log
    head, in one round trip (psycopg's pipeline mode). The server runs the statements in
    order, each with its own snapshot, so the head is read once the lock is held: exactly as
    if they were sent one by one. The transaction's first append starts from that head."""
    connection = session.connection()
    statements = _statements(connection.dialect)
    driver: Any = connection.connection.driver_connection
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        lock, read = driver.cursor(), driver.cursor()
        # Another driver, or a libpq without pipeline mode: one statement after the other.
        batch = driver.pipeline() if _pipelines(type(driver)) else nullcontext()
        with batch:
            lock.execute(lock_sql)
            statements.lock_head.run(read, {"head_id": 1})
        row = read.fetchone()
        lock.close()
        read.close()
    except dbapi_error as exc:
        raise DBAPIError.instance("action lock", None, exc, dbapi_error) from exc
    if row is not None:
        _keep_head(session, CompactRange.from_bytes(int(row[0]), bytes(row[1])))
        session.info[_SIZE_AT_LOCK_KEY] = (session.get_transaction(), int(row[0]))


def _pipelines(driver: type) -> bool:
    """Whether ``driver`` (a DBAPI connection's class) is psycopg's, over a libpq with
    pipeline mode."""
    if getattr(driver, "pipeline", None) is None:
        return False
    import psycopg  # the driver in use, so installed

    return bool(psycopg.Pipeline.is_supported())


#: ``Session.info`` key: (the transaction, the log's size when it took the action lock).
_SIZE_AT_LOCK_KEY = "facetrail_audit_size_at_lock"
#: The log's size (SQLite, under the write lock its transaction took: the size at the lock).
_SIZE = select(_HEAD.c.size).where(_HEAD.c.id == 1)


def size_at_lock(session: Session) -> int | None:
    """The audit log's size when this transaction took the action lock, before any append of
    its own: PostgreSQL read it with the lock (``lock_and_read_head``); SQLite's transaction
    holds the write lock from its first statement, so the head read now is that size while
    the transaction has appended nothing. None when it is not known."""
    known = session.info.get(_SIZE_AT_LOCK_KEY)
    if known is None or known[0] is not session.get_transaction():
        if session.get_bind().dialect.name != "sqlite" or appended_in(session) is not None:
            return None
        found = session.execute(_SIZE).scalar()
        if found is None:
            return None
        session.info[_SIZE_AT_LOCK_KEY] = (session.get_transaction(), int(found))
        return int(found)
    size: int = known[1]
    return size


def locked_head(session: Session) -> CompactRange:
    """The log head, locked until the caller's transaction ends (a row lock on PostgreSQL; on
    SQLite the transaction already holds the write lock). A home made before the head existed
    gets its head computed once from the log."""
    connection = session.connection()
    cursor = connection.connection.cursor()
    try:
        head = _read_head(cursor, _statements(connection.dialect))
    finally:
        cursor.close()
    return head if head is not None else _build_head(connection)


def _build_head(connection: Connection) -> CompactRange:
    compact = CompactRange()
    for (digest,) in connection.execute(_LEAVES):
        compact.push(bytes(digest))
    connection.execute(
        insert(_HEAD), {"id": 1, "size": compact.size, "frontier": compact.to_bytes()}
    )
    return compact


def _stored_details(details: dict[str, Any]) -> str:
    """The canonical text of ``details``. Keys that are not strings (``{2: .., 10: ..}``) sort
    differently once JSON has made them strings, so the text is made again from its parse:
    otherwise ``audit verify`` would call the entry's own details non-canonical."""
    text = canonical_json(details)
    return canonical_json(json.loads(text))


def append(session: Session, event: AuditEvent, *, at: datetime | None = None) -> AppendedEntry:
    """Append ``event`` inside the caller's open transaction.

    The head row is locked, so appends take positions one at a time: the entry goes to
    size+1 and the head's frontier takes its leaf, both committed or rolled back with the
    action. The head is read once per transaction (``lock_and_read_head``, or the first
    append), then kept for the transaction's next appends.
    """
    connection = session.connection()
    statements = _statements(connection.dialect)
    cursor = connection.connection.cursor()
    try:
        head = _known_head(session)
        if head is None:
            head = _read_head(cursor, statements)
        if head is None:
            head = _build_head(connection)
        seq = head.size + 1
        when = (at or datetime.now(UTC)).isoformat(timespec="microseconds")
        details = _stored_details(event.details)
        digest = leaf_hash(
            entry_bytes(seq, when, event.actor, event.kind, event.subject, details, event.agency)
        )
        entry = {
            "seq": seq,
            "at": when,
            "actor": event.actor,
            "kind": event.kind,
            "subject": event.subject,
            "details": details,
            "agency": event.agency,
            "leaf_hash": digest,
        }
        tiles: list[tuple[int, bytes]] = []
        head.push(digest, tiles)
        moved = {"head_id": 1, "new_size": head.size, "new_frontier": head.to_bytes()}
        if statements.insert_and_move is not None:
            statements.insert_and_move.run(cursor, entry | moved)
        else:
            statements.insert_entry.run(cursor, entry)
            statements.move_head.run(cursor, moved)
        for level, value in tiles:  # a full tile's hash, once every 256 entries
            tile = {"level": level, "idx": (seq >> (8 * level)) - 1, "hash": value}
            statements.insert_tile.run(cursor, tile)
        _keep_head(session, head)
        _note_appended(session, seq, event)
    except connection.dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy would raise it (IntegrityError, OperationalError, ...), for callers
        # that handle database errors by SQLAlchemy's classes.
        raise DBAPIError.instance(
            "audit append", None, exc, connection.dialect.loaded_dbapi.Error
        ) from exc
    finally:
        cursor.close()
    return AppendedEntry(seq, when, digest)
