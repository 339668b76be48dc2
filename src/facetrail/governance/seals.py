"""Every row that authorises, records or identifies anything is sealed by the entry that last
wrote it.

An acting transaction, just before it commits, reads which sealed rows it wrote
(``store.sealing``'s notes), computes each row's digest and appends one ``row.seal`` entry
holding them (a deleted row: null), after the action's own entries and in the same
transaction. The digest covers every sealed column (``store.sealing.sealed_columns``):

    row digest    = SHA-256(table NUL key NUL (name NUL length ":" typed value) in name order)[:16]
    column digest = SHA-256(name NUL typed value)[:16], kept in the seal index to name columns
    logged value  = row digest (hex) + SHA-256(its column digests, in name order)[:8] (hex)

The logged value binds the seal index's column digests to the log too: an index entry whose
column digests were forged (to make an insider's change look like a column the next action
writes) is found, never trusted (``seal_transaction``). Seals logged before the column part
was added hold the row digest alone.

Replaying the ``row.seal`` entries in order gives the set of rows that must exist and their
digests (``expected_rows``): ``governance.seal_findings`` names every row that is missing,
extra or different for ``audit verify``, and ``governance.seal_checks`` holds a row to its
seal where the product is about to act on it.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    cast,
    delete,
    insert,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from facetrail.errors import RecordMismatchError
from facetrail.governance.audit import AuditEvent, append, appended_in
from facetrail.store.schema import AuditEntryRow, Base, RowSeal
from facetrail.store.sealing import (
    key_columns,
    key_text,
    parse_key,
    sealed_columns,
    sealed_tables,
    take_notes,
)

__all__ = [
    "CHUNK",
    "SEAL_KIND",
    "IndexEntry",
    "IndexRead",
    "Sealed",
    "changed_columns",
    "columns_hash",
    "current_seals",
    "expected_rows",
    "indexed",
    "indexed_many",
    "logged_columns",
    "logged_digest",
    "logged_rows",
    "logged_value",
    "read_with_index",
    "rows_and_seals",
    "seal_everything",
    "seal_of",
    "seal_transaction",
]

SEAL_KIND = "row.seal"
_DIGEST = 16
#: keys looked up in one statement
CHUNK = 500


def _encoded(value: object) -> bytes:
    """A column's value as typed bytes: the same value reads alike from SQLite and PostgreSQL."""
    exact = _ENCODERS.get(type(value))
    if exact is not None:
        return exact(value)
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"x" + bytes(value)
    if isinstance(value, datetime):
        return _encoded_time(value)
    raise TypeError(f"cannot seal a {type(value).__name__}")


def _encoded_time(value: datetime) -> bytes:
    """The instant in UTC as ISO 8601 with microseconds (``+00:00``); a naive value is UTC."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return b"t%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00" % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


#: ``_encoded`` by exact type, the common cases first (a subclass takes the long way).
_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda _v: b"n",
    bool: lambda v: b"b1" if v else b"b0",
    int: lambda v: b"i" + str(v).encode(),
    float: lambda v: b"f" + repr(v).encode(),
    str: lambda v: b"s" + v.encode("utf-8", "surrogatepass"),
    bytes: lambda v: b"x" + v,
    memoryview: lambda v: b"x" + bytes(v),
    datetime: _encoded_time,
}


def _column_digest(name: str, value: object) -> bytes:
    return hashlib.sha256(name.encode() + b"\0" + _encoded(value)).digest()[:_DIGEST]


def columns_hash(columns: bytes) -> str:
    """The hex digest of a row's column digests, as the logged value ends with it."""
    return hashlib.sha256(columns).digest()[:8].hex()


def logged_value(seal: Sealed) -> str:
    """What a ``row.seal`` entry holds for a row it seals (null for a deleted row)."""
    return seal.digest + columns_hash(seal.columns)


_HEX_DIGEST = 2 * _DIGEST


def logged_digest(value: str | None) -> str | None:
    """The row digest of a logged value."""
    return None if value is None else value[:_HEX_DIGEST]


def logged_columns(value: str | None) -> str | None:
    """The column digests' hash of a logged value (None: a seal logged without it)."""
    return None if value is None or len(value) <= _HEX_DIGEST else value[_HEX_DIGEST:]


_PREFIXES: dict[tuple[str, ...], list[bytes]] = {}


def _prefixes(names: Sequence[str]) -> list[bytes]:
    """Each column name as it opens its part of a row digest (name NUL)."""
    key = tuple(names)
    found = _PREFIXES.get(key)
    if found is None:
        found = _PREFIXES[key] = [n.encode() + b"\0" for n in names]
    return found


class Sealed:
    """A row's digest as computed from the row now, and (computed when asked, to name what
    changed and for the seal index) its columns' digests.

        row digest    = SHA-256(table NUL key NUL (name NUL length ":" value) per column)[:16]
        column digest = SHA-256(name NUL typed value)[:16]
    """

    __slots__ = ("_columns", "_names", "_values", "digest")

    def __init__(self, table: str, key: str, names: Sequence[str], values: Sequence[object]):
        parts = [f"{table}\0{key}\0".encode()]
        encoders = _ENCODERS
        for prefix, value in zip(_prefixes(names), values, strict=True):
            exact = encoders.get(type(value))
            encoded = exact(value) if exact is not None else _encoded(value)
            parts.append(b"%s%d:%s" % (prefix, len(encoded), encoded))
        self.digest = hashlib.sha256(b"".join(parts)).digest()[:_DIGEST].hex()
        self._names, self._values = names, values
        self._columns: bytes | None = None

    @property
    def columns(self) -> bytes:
        if self._columns is None:
            self._columns = b"".join(
                _column_digest(n, v) for n, v in zip(self._names, self._values, strict=True)
            )
        return self._columns


def seal_of(table: Table, names: Sequence[str], key: str, values: Sequence[object]) -> Sealed:
    return Sealed(table.name, key, names, values)


def _rows(session: Session, table: Table, keys: Sequence[str] | None) -> Iterator[Any]:
    """(key columns..., sealed columns...) of the rows of ``keys`` (every row when None)."""
    ids = key_columns(table)
    statement = select(*ids, *sealed_columns(table))
    if keys is None:
        yield from session.execute(statement.order_by(*ids))
        return
    parsed = [parse_key(table, k) for k in keys]
    for start in range(0, len(parsed), CHUNK):
        part = parsed[start : start + CHUNK]
        where = ids[0].in_([p[0] for p in part]) if len(ids) == 1 else tuple_(*ids).in_(part)
        yield from session.execute(statement.where(where))


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


def rows_and_seals(
    session: Session, table: Table, keys: Sequence[str]
) -> Iterator[tuple[str, Sealed, IndexRead | None]]:
    """(key, seal as the row stands now, its seal index entry or None) for the rows of
    ``keys`` that exist, in one statement per ``CHUNK`` keys."""
    if not keys:
        return
    ids = key_columns(table)
    width = len(ids)
    names = [c.name for c in sealed_columns(table)]
    statement = select(*ids, *sealed_columns(table), RowSeal.seq, RowSeal.digest, RowSeal.columns)
    statement = statement.outerjoin(
        RowSeal, and_(RowSeal.tbl == table.name, RowSeal.key == _seal_key(table))
    )
    parsed = [parse_key(table, k) for k in keys]
    for start in range(0, len(parsed), CHUNK):
        part = parsed[start : start + CHUNK]
        where = ids[0].in_([p[0] for p in part]) if len(ids) == 1 else tuple_(*ids).in_(part)
        row: Any
        for row in session.execute(statement.where(where)):
            key = key_text(tuple(row[:width]))
            seq, digest, columns = row[-3:]
            seal = seal_of(table, names, key, row[width:-3])
            index = None if seq is None else IndexEntry(seq, digest, bytes(columns))
            yield key, seal, index


def indexed(session: Session, table: str, keys: Sequence[str]) -> dict[str, IndexEntry]:
    """The seal index's entries of these rows, by key."""
    return indexed_many(session, {table: keys}).get(table, {})


def indexed_many(
    session: Session, wanted: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, IndexEntry]]:
    """The seal index's entries of the rows of several tables (table -> keys), by table and
    key: one statement per ``CHUNK`` keys, whatever the tables."""
    found: dict[str, dict[str, IndexEntry]] = {}
    parts = [
        (table, keys[start : start + CHUNK])
        for table, keys in sorted(wanted.items())
        for start in range(0, len(keys), CHUNK)
    ]
    if not parts:
        return found
    connection = session.connection()
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        while parts:
            batch: list[tuple[str, Sequence[str]]] = []
            size = 0
            while parts and (not batch or size + len(parts[0][1]) <= CHUNK):
                batch.append(parts.pop(0))
                size += len(batch[-1][1])
            # The driver's own cursor: this is on every search's path, and SQLAlchemy's
            # statement building and row processing cost more than the lookups themselves.
            where = " OR ".join(
                f"(tbl = {mark} AND key IN ({', '.join([mark] * len(keys))}))" for _, keys in batch
            )
            cursor.execute(
                f"SELECT tbl, key, seq, digest, columns FROM row_seals WHERE {where}",
                [p for table, keys in batch for p in (table, *keys)],
            )
            for table, key, seq, digest, columns in cursor.fetchall():
                found.setdefault(table, {})[key] = IndexEntry(int(seq), digest, bytes(columns))
    finally:
        cursor.close()
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


#: (database, seq) -> the seal entry's rows, parsed (entries never change: ``audit verify``
#: catches one that did). Bounded, least recently used dropped first.
_PARSED: OrderedDict[tuple[str, int], dict[str, dict[str, str | None]]] = OrderedDict()
_PARSED_MAX = 256


def logged_rows(
    session: Session, seqs: Iterable[int]
) -> dict[int, dict[str, dict[str, str | None]]]:
    """The rows each of the ``row.seal`` entries ``seqs`` seals (table -> key -> logged value,
    ``logged_value``); an
    entry that is missing, not a seal, or unreadable is left out. One statement, for the
    entries not parsed already (entries never change: ``audit verify`` finds one that did)."""
    found: dict[int, dict[str, dict[str, str | None]]] = {}
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


def seal_transaction(session: Session) -> int | None:
    """Seal every row this transaction wrote, before it commits: one ``row.seal`` entry with
    each changed row's digest (null: deleted), and the seal index brought up to it. Returns
    the entry's seq, or None when no sealed row changed. Called by ``AppContext.transaction``;
    the entry's actor is the transaction's last entry's (``system`` when it appended none)."""
    session.flush()
    notes = take_notes(session.connection())
    if not notes:
        return None
    wanted: dict[str, dict[str, frozenset[str] | None]] = {}
    for (table_name, key), written in notes.items():
        wanted.setdefault(table_name, {})[key] = written
    read: dict[str, tuple[dict[str, Sealed], dict[str, IndexRead]]] = {}
    for table_name, keys in sorted(wanted.items()):
        read[table_name] = read_with_index(session, Base.metadata.tables[table_name], sorted(keys))
    # The log's own seals of the rows this transaction updated into another digest: their
    # index entries are held to them before their column digests are believed.
    logged = logged_rows(
        session,
        (
            before.seq
            for table_name, (now, known) in read.items()
            for key, before in known.items()
            if wanted[table_name][key] is not None
            and key in now
            and before.digest != now[key].digest
        ),
    )
    changes: dict[str, dict[str, Sealed | None]] = {}
    replaced: dict[str, set[str]] = {}
    for table_name, (now, known) in read.items():
        table = Base.metadata.tables[table_name]
        keys = wanted[table_name]
        replaced[table_name] = set(known)
        changed: dict[str, Sealed | None] = {}
        for key in sorted(keys):
            seal = now.get(key)
            before = known.get(key)
            if seal is not None:
                _refuse_laundering(table, key, seal, before, keys[key], logged)
            if seal is None and before is not None:
                changed[key] = None
            elif seal is not None and (before is None or before.digest != seal.digest):
                changed[key] = seal
        if changed:
            changes[table_name] = changed
    if not changes:
        return None
    return _append_seal(session, changes, replaced=replaced)


def _refuse_laundering(
    table: Table,
    key: str,
    now: Sealed,
    before: IndexRead | None,
    written: frozenset[str] | None,
    logged: dict[int, dict[str, dict[str, str | None]]],
) -> None:
    """Refuse to seal a row this transaction updated when what it did not write differs from
    the row's seal: the row had been changed outside facetrail, and sealing it now would make
    the log vouch for that change. ``written``: the columns the transaction's updates changed
    (None: it inserted or deleted the row). The seal index entry is believed only where it is
    the log's (``logged``: the seal entries of the rows updated, by seq): its digest, and its
    column digests, which name what changed."""
    if written is None:
        return
    where = f"{table.name} {key}"
    if before is None:
        raise RecordMismatchError(
            f"{where} was written outside facetrail (it has no seal) and will not be sealed",
            subject=where,
        )
    if before.digest == now.digest:
        return
    value = logged.get(before.seq, {}).get(table.name, {}).get(key)
    columns = logged_columns(value)
    if logged_digest(value) != before.digest or (
        columns is not None and columns != columns_hash(before.columns)
    ):
        raise RecordMismatchError(
            f"{where} has a seal index entry that is not the audit log's entry {before.seq}: "
            "it was changed outside facetrail and will not be sealed",
            subject=where,
        )
    outside = [c for c in changed_columns(table, now.columns, before.columns) if c not in written]
    if outside or len(now.columns) != len(before.columns):
        raise RecordMismatchError(
            f"{where} was changed outside facetrail ({', '.join(outside) or 'its columns'} "
            "differ from its seal) and will not be sealed",
            subject=where,
        )


def _append_seal(
    session: Session,
    changes: dict[str, dict[str, Sealed | None]],
    subject: str | None = None,
    *,
    replaced: dict[str, set[str]] | None = None,
) -> int:
    """Append the ``row.seal`` entry of ``changes`` and bring the seal index up to it.
    ``replaced``: the keys the index holds already (None: any may be)."""
    done = appended_in(session)
    actor, agency = (done.actor, done.agency) if done is not None else ("system", None)
    if subject is None:
        subject = f"entries:{done.first}-{done.last}" if done is not None else "rows"
    rows = {
        table: {key: (logged_value(s) if s is not None else None) for key, s in changed.items()}
        for table, changed in changes.items()
    }
    entry = append(session, AuditEvent(actor, SEAL_KIND, subject, {"rows": rows}, agency))
    for table, changed in changes.items():
        keys = [k for k in changed if replaced is None or k in replaced.get(table, ())]
        for start in range(0, len(keys), CHUNK):
            part = keys[start : start + CHUNK]
            session.execute(delete(RowSeal).where(RowSeal.tbl == table, RowSeal.key.in_(part)))
        kept = [
            {"tbl": table, "key": key, "seq": entry.seq, "digest": s.digest, "columns": s.columns}
            for key, s in changed.items()
            if s is not None
        ]
        if kept:
            session.execute(insert(RowSeal), kept)
    return entry.seq


def seal_everything(session: Session, subject: str, *, per_entry: int = 5000) -> int:
    """Seal every row of every sealed table as it stands, and as gone every row the log
    sealed that is not there (a home upgraded to sealing: what it holds then is what the log
    vouches for from then on), ``per_entry`` rows an entry. Returns how many were sealed."""
    expected = expected_rows(session)
    batch: dict[str, dict[str, Sealed | None]] = {}
    count = sealed = 0
    for table in sealed_tables():
        gone = set(expected.get(table.name, {}))
        for key, seal in _all_then_gone(current_seals(session, table), gone):
            batch.setdefault(table.name, {})[key] = seal
            count += 1
            if count >= per_entry:
                _append_seal(session, batch, subject)
                sealed, batch, count = sealed + count, {}, 0
    if count:
        _append_seal(session, batch, subject)
    return sealed + count


def _all_then_gone(
    rows: Iterator[tuple[str, Sealed]], gone: set[str]
) -> Iterator[tuple[str, Sealed | None]]:
    """Every row as it stands, then the keys of ``gone`` no row holds (sealed as deleted)."""
    for key, seal in rows:
        gone.discard(key)
        yield key, seal
    for key in sorted(gone):
        yield key, None


def changed_columns(table: Table, now: bytes, sealed: bytes) -> list[str]:
    names = [c.name for c in sealed_columns(table)]
    if len(now) != len(sealed):
        return []
    return [
        name
        for i, name in enumerate(names)
        if now[i * _DIGEST : (i + 1) * _DIGEST] != sealed[i * _DIGEST : (i + 1) * _DIGEST]
    ]


def expected_rows(
    session: Session, seals: Sequence[tuple[int, dict[str, Any]]] | None = None
) -> dict[str, dict[str, tuple[str, int, str | None]]]:
    """table -> key -> (digest, seq of the entry that last sealed it, the hash of its column
    digests or None when that entry logged none), from the log alone (``seals``: its
    ``row.seal`` entries' details, parsed already, in order)."""
    expected: dict[str, dict[str, tuple[str, int, str | None]]] = {}
    if seals is None:
        entries = session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.details)
            .where(AuditEntryRow.kind == SEAL_KIND)
            .order_by(AuditEntryRow.seq)
        )
        seals = [(int(seq), json.loads(details)) for seq, details in entries]
    width = _HEX_DIGEST
    for seq, parsed in seals:
        rows = parsed.get("rows", {})
        for table, keyed in rows.items():
            held = expected.setdefault(table, {})
            for key, value in keyed.items():
                if value is None:
                    held.pop(key, None)
                else:
                    held[key] = (value[:width], seq, value[width:] or None)
    return expected
