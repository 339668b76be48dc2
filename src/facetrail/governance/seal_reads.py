"""Reading rows with their seals (``governance.seals``): the rows as they stand with their
seal index entries, and the log's ``row.seal`` entries, in few statements."""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    select,
    tuple_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from facetrail.governance.seal_digests import Sealed, seal_of
from facetrail.store.schema import AuditEntryRow, RowSeal
from facetrail.store.sealing import key_columns, key_text, parse_key, sealed_columns

__all__ = [
    "CHUNK",
    "SEAL_KIND",
    "IndexEntry",
    "IndexRead",
    "LoggedRows",
    "current_seals",
    "indexed",
    "logged_rows",
    "read_with_index",
    "rows_and_seals",
]

SEAL_KIND = "row.seal"
#: keys looked up in one statement
CHUNK = 500


@functools.cache
def _rows_statement(table: Table, *, every: bool = False) -> Select[*tuple[Any, ...]]:
    """The key and sealed columns of a table's rows: every row in key order, or those of the
    keys bound as ``keys`` (values, or tuples of them for a key of several columns). Built
    once per table, so each read only binds."""
    ids = key_columns(table)
    statement = select(*ids, *sealed_columns(table))
    if every:
        return statement.order_by(*ids)
    keyed = ids[0] if len(ids) == 1 else tuple_(*ids)
    return statement.where(keyed.in_(bindparam("keys", expanding=True)))


def _rows(session: Session, table: Table, keys: Sequence[str] | None) -> Iterator[Any]:
    """(key columns..., sealed columns...) of the rows of ``keys`` (every row when None)."""
    if keys is None:
        yield from session.execute(_rows_statement(table, every=True))
    else:
        yield from _for_keys(session, table, keys)


def current_seals(
    session: Session, table: Table, keys: Sequence[str] | None = None
) -> Iterator[tuple[str, Sealed]]:
    """(key, seal as the row stands now) for the rows of ``keys``, or for every row."""
    width = len(key_columns(table))
    names = [c.name for c in sealed_columns(table)]
    for row in _rows(session, table, keys):
        key = key_text(tuple(row[:width]))
        yield key, seal_of(table, names, key, row[width:])


class IndexEntry(NamedTuple):
    """A row's seal index entry, as read with the row."""

    seq: int
    digest: str
    columns: bytes


#: A row's entry in the seal index, as read.
IndexRead = RowSeal | IndexEntry


def _seal_key(table: Table) -> ColumnElement[str]:
    """A row's key as the seal index writes it (``key_text``), in SQL."""
    parts: list[ColumnElement[str]] = [cast(c, String) for c in key_columns(table)]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ":" + part
    return joined


@functools.cache
def _rows_and_seals_statement(table: Table) -> Select[*tuple[Any, ...]]:
    """``_rows_statement`` with each row's seal index entry: built once per table."""
    return (
        _rows_statement(table)
        .add_columns(RowSeal.seq, RowSeal.digest, RowSeal.columns)
        .outerjoin(RowSeal, and_(RowSeal.tbl == table.name, RowSeal.key == _seal_key(table)))
    )


def rows_and_seals(
    session: Session, table: Table, keys: Sequence[str]
) -> Iterator[tuple[str, Sealed, IndexRead | None]]:
    """(key, seal as the row stands now, its seal index entry or None) for the rows of
    ``keys`` that exist, in one statement per ``CHUNK`` keys."""
    if not keys:
        return
    width = len(key_columns(table))
    names = [c.name for c in sealed_columns(table)]
    row: Any
    for row in _for_keys(session, table, keys, joined=True):
        key = key_text(tuple(row[:width]))
        seq, digest, columns = row[-3:]
        seal = seal_of(table, names, key, row[width:-3])
        index = None if seq is None else IndexEntry(seq, digest, bytes(columns))
        yield key, seal, index


class _DriverRead(NamedTuple):
    """A keyed read (``_rows_statement`` or ``_rows_and_seals_statement``) as the driver
    takes it."""

    #: the SQL, the keys' placeholders to be put where ``_KEYS`` stands
    sql: str
    #: the parameters bound before the keys (positional styles), or all but the keys (named)
    fixed: tuple[Any, ...] | dict[str, Any]
    #: the placeholders of the key numbered {0}: ``?``, ``(?, ?)``, ``%(k{0}_0)s`` ...
    one: str
    #: what opens the keys' placeholders (SQLite compares tuples with a VALUES list)
    opening: str
    #: (column number, its conversion from what the driver returns to what SQLAlchemy's reads
    #: give), for the columns that need one
    converted: tuple[tuple[int, Callable[[Any], Any]], ...]


_KEYS = "__[POSTCOMPILE_keys]"
_DRIVER_READS: dict[tuple[str, bool, str, str], _DriverRead] = {}


def _driver_read(table: Table, dialect: Dialect, *, joined: bool) -> _DriverRead:
    """The keyed read of ``table`` (``joined``: with its seal index entries) compiled once per
    table and driver, so that each read costs the driver's work alone: the rows an action
    wrote are read back as it seals them, and the rows it acts on as it checks them."""
    cache = (table.name, joined, dialect.name, f"{dialect.driver}:{dialect.paramstyle}")
    found = _DRIVER_READS.get(cache)
    if found is not None:
        return found
    statement = _rows_and_seals_statement(table) if joined else _rows_statement(table)
    compiled = statement.compile(dialect=dialect)
    params = dict(compiled.params)
    positions = compiled.positiontup if compiled.positional else None
    fixed: tuple[Any, ...] | dict[str, Any]
    if positions is not None:
        assert positions[-1] == "keys" and "keys" not in positions[:-1]
        fixed = tuple(params[name] for name in positions[:-1])
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
    else:
        fixed = {name: value for name, value in params.items() if name != "keys"}
        mark = "%(k{0}_{1})s"
    width = len(key_columns(table))
    parts = [mark.format("{0}", j) for j in range(width)]
    one = parts[0] if width == 1 else "(" + ", ".join(parts) + ")"
    opening = "VALUES " if width > 1 and dialect.name == "sqlite" else ""
    # SQLite returns text for times and integers for booleans: SQLAlchemy's own conversions
    # turn them into what its reads give. psycopg returns every type the seals cover
    # (integers, floats, text, bytes, booleans, times) as SQLAlchemy's reads do already (the
    # seal index's columns, after them when joined, need none).
    converted: list[tuple[int, Callable[[Any], Any]]] = []
    if dialect.name == "sqlite":
        for number, column in enumerate([*key_columns(table), *sealed_columns(table)]):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                converted.append((number, process))
    found = _DriverRead(compiled.string, fixed, one, opening, tuple(converted))
    _DRIVER_READS[cache] = found
    return found


def _for_keys(
    session: Session, table: Table, keys: Sequence[str], *, joined: bool = False
) -> Iterator[Any]:
    """The rows of ``keys`` (``_rows_statement``; ``joined``: ``_rows_and_seals_statement``),
    one statement per ``CHUNK`` keys, run on the driver's own cursor: the same rows in the
    same types as SQLAlchemy reads them (tests/security/test_sealing.py holds every sealed
    table's rows so sealed to ``audit verify``'s reading of them through SQLAlchemy), without
    its work per statement and per row."""
    connection = session.connection()
    read = _driver_read(table, connection.dialect, joined=joined)
    driver: Any = connection.connection.driver_connection
    converted = read.converted
    parsed = [parse_key(table, k) for k in keys]
    cursor = driver.cursor()
    try:
        for start in range(0, len(parsed), CHUNK):
            part = parsed[start : start + CHUNK]
            marks = read.opening + ", ".join(read.one.format(i) for i in range(len(part)))
            sql = read.sql.replace(_KEYS, marks)
            if isinstance(read.fixed, tuple):
                cursor.execute(sql, (*read.fixed, *(value for key in part for value in key)))
            else:
                named = {f"k{i}_{j}": v for i, key in enumerate(part) for j, v in enumerate(key)}
                cursor.execute(sql, {**read.fixed, **named})
            for found in cursor.fetchall():
                if converted:
                    row = list(found)
                    for i, process in converted:
                        row[i] = process(row[i])
                    yield row
                else:
                    yield found
    finally:
        cursor.close()


def indexed(session: Session, table: str, keys: Sequence[str]) -> dict[str, IndexEntry]:
    """The seal index's entries of these rows, by key."""
    found: dict[str, IndexEntry] = {}
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        for key, seq, digest, columns in session.execute(
            select(RowSeal.key, RowSeal.seq, RowSeal.digest, RowSeal.columns).where(
                RowSeal.tbl == table, RowSeal.key.in_(part)
            )
        ):
            found[key] = IndexEntry(seq, digest, bytes(columns))
    return found


def read_with_index(
    session: Session, table: Table, keys: Sequence[str], read: dict[str, Sealed] | None = None
) -> tuple[dict[str, Sealed], dict[str, IndexRead]]:
    """The rows of ``keys`` as they stand now (``read``: those the caller has just read, taken
    as they are), and their seal index entries: the unread rows with their entries in one
    statement, then the entries of the rest (rows read before, rows that are gone)."""
    now = dict(read or {})
    known: dict[str, IndexRead] = {}
    joined: set[str] = set()
    for key, seal, index in rows_and_seals(session, table, [k for k in keys if k not in now]):
        now[key] = seal
        joined.add(key)
        if index is not None:
            known[key] = index
    known.update(indexed(session, table.name, [k for k in keys if k not in joined]))
    return now, known


#: A ``row.seal`` entry's rows: table -> key -> logged value (``seal_digests.logged_value``;
#: None: deleted).
LoggedRows = dict[str, dict[str, str | None]]

#: (database, seq) -> the seal entry's rows, parsed (entries never change: ``audit verify``
#: catches one that did). Bounded, least recently used dropped first.
_PARSED: OrderedDict[tuple[str, int], LoggedRows] = OrderedDict()
_PARSED_MAX = 256


def logged_rows(session: Session, seqs: Iterable[int]) -> dict[int, LoggedRows]:
    """The rows each of the ``row.seal`` entries ``seqs`` seals, by seq; an entry that is
    missing, not a seal, or unreadable is left out. One statement, for the entries not parsed
    already (entries never change: ``audit verify`` finds one that did)."""
    found: dict[int, LoggedRows] = {}
    missing: list[int] = []
    database = str(session.get_bind().engine.url)
    for seq in sorted(set(seqs)):
        if (parsed := _PARSED.get((database, seq))) is not None:
            _PARSED.move_to_end((database, seq))
            found[seq] = parsed
        else:
            missing.append(seq)
    for start in range(0, len(missing), CHUNK):
        part = missing[start : start + CHUNK]
        for seq, kind, details in session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.kind, AuditEntryRow.details).where(
                AuditEntryRow.seq.in_(part)
            )
        ):
            if kind != SEAL_KIND:
                continue
            try:
                parsed = dict(json.loads(details).get("rows", {}))
            except (ValueError, AttributeError):
                continue
            found[int(seq)] = _PARSED[(database, int(seq))] = parsed
            if len(_PARSED) > _PARSED_MAX:
                _PARSED.popitem(last=False)
    return found
