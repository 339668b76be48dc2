"""Every row that authorises, records or identifies anything is sealed by the entry that last
wrote it.

An acting transaction, just before it commits, reads which sealed rows it wrote
(``store.sealing``'s notes), computes each row's digest and appends one ``row.seal`` entry
holding them (a deleted row: null), after the action's own entries and in the same
transaction. The digest covers every sealed column (``store.sealing.sealed_columns``):

    row digest    = SHA-256(table NUL key NUL (name NUL length ":" typed value) in name order)[:16]
    column digest = SHA-256(name NUL typed value)[:16], kept in the seal index to name columns

Replaying the ``row.seal`` entries in order gives the set of rows that must exist and their
digests: ``row_findings`` names every row that is missing, extra or different (and which
columns, from the seal index ``row_seals``, itself held to the log). ``row_problem`` holds one
row to its seal where the product is about to act on it.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
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
    inspect,
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
    noted,
    parse_key,
    sealed_columns,
    sealed_tables,
    take_notes,
)

__all__ = [
    "SEAL_KIND",
    "RowFinding",
    "Sealed",
    "require_sealed",
    "row_findings",
    "row_problem",
    "rows_problems",
    "seal_everything",
    "seal_transaction",
    "tampered",
]

SEAL_KIND = "row.seal"
_DIGEST = 16
#: keys looked up in one statement
_CHUNK = 500


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
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return b"t" + aware.astimezone(UTC).isoformat(timespec="microseconds").encode()


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
        digest = hashlib.sha256(f"{table}\0{key}\0".encode())
        for prefix, value in zip(_prefixes(names), values, strict=True):
            encoded = _encoded(value)
            digest.update(b"%s%d:%s" % (prefix, len(encoded), encoded))
        self.digest = digest.digest()[:_DIGEST].hex()
        self._names, self._values = names, values
        self._columns: bytes | None = None

    @property
    def columns(self) -> bytes:
        if self._columns is None:
            self._columns = b"".join(
                _column_digest(n, v) for n, v in zip(self._names, self._values, strict=True)
            )
        return self._columns


def _seal_of(table: Table, names: Sequence[str], key: str, values: Sequence[object]) -> Sealed:
    return Sealed(table.name, key, names, values)


def _rows(session: Session, table: Table, keys: Sequence[str] | None) -> Iterator[Any]:
    """(key columns..., sealed columns...) of the rows of ``keys`` (every row when None)."""
    ids = key_columns(table)
    statement = select(*ids, *sealed_columns(table))
    if keys is None:
        yield from session.execute(statement.order_by(*ids))
        return
    parsed = [parse_key(table, k) for k in keys]
    for start in range(0, len(parsed), _CHUNK):
        part = parsed[start : start + _CHUNK]
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
        yield key, _seal_of(table, names, key, row[width:])


class _IndexRow(NamedTuple):
    """A row's seal index entry, as read with the row."""

    seq: int
    digest: str
    columns: bytes


#: A row's entry in the seal index, as read.
_Index = RowSeal | _IndexRow


def _seal_key(table: Table) -> ColumnElement[str]:
    """A row's key as the seal index writes it (``key_text``), in SQL."""
    parts: list[ColumnElement[str]] = [cast(c, String) for c in key_columns(table)]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ":" + part
    return joined


def _rows_and_seals(
    session: Session, table: Table, keys: Sequence[str]
) -> Iterator[tuple[str, Sealed, _Index | None]]:
    """(key, seal as the row stands now, its seal index entry or None) for the rows of
    ``keys`` that exist, in one statement per ``_CHUNK`` keys."""
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
    for start in range(0, len(parsed), _CHUNK):
        part = parsed[start : start + _CHUNK]
        where = ids[0].in_([p[0] for p in part]) if len(ids) == 1 else tuple_(*ids).in_(part)
        row: Any
        for row in session.execute(statement.where(where)):
            key = key_text(tuple(row[:width]))
            seq, digest, columns = row[-3:]
            seal = _seal_of(table, names, key, row[width:-3])
            index = None if seq is None else _IndexRow(seq, digest, bytes(columns))
            yield key, seal, index


def _indexed(session: Session, table: str, keys: Sequence[str]) -> dict[str, _IndexRow]:
    """The seal index's entries of these rows, by key."""
    found: dict[str, _IndexRow] = {}
    for start in range(0, len(keys), _CHUNK):
        part = keys[start : start + _CHUNK]
        for key, seq, digest, columns in session.execute(
            select(RowSeal.key, RowSeal.seq, RowSeal.digest, RowSeal.columns).where(
                RowSeal.tbl == table, RowSeal.key.in_(part)
            )
        ):
            found[key] = _IndexRow(seq, digest, bytes(columns))
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
    changes: dict[str, dict[str, Sealed | None]] = {}
    replaced: dict[str, set[str]] = {}
    for table_name, keys in sorted(wanted.items()):
        table = Base.metadata.tables[table_name]
        ordered = sorted(keys)
        now: dict[str, Sealed] = {}
        known: dict[str, _Index] = {}
        for key, read, index in _rows_and_seals(session, table, ordered):
            now[key] = read
            if index is not None:
                known[key] = index
        known.update(_indexed(session, table_name, [k for k in ordered if k not in now]))
        replaced[table_name] = set(known)
        changed: dict[str, Sealed | None] = {}
        for key in ordered:
            seal = now.get(key)
            before = known.get(key)
            if seal is not None:
                _refuse_laundering(table, key, seal, before, keys[key])
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
    table: Table, key: str, now: Sealed, before: _Index | None, written: frozenset[str] | None
) -> None:
    """Refuse to seal a row this transaction updated when what it did not write differs from
    the row's seal: the row had been changed outside facetrail, and sealing it now would make
    the log vouch for that change. ``written``: the columns the transaction's updates changed
    (None: it inserted or deleted the row)."""
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
    outside = [c for c in _changed_columns(table, now.columns, before.columns) if c not in written]
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
        table: {key: (s.digest if s is not None else None) for key, s in changed.items()}
        for table, changed in changes.items()
    }
    entry = append(session, AuditEvent(actor, SEAL_KIND, subject, {"rows": rows}, agency))
    for table, changed in changes.items():
        keys = [k for k in changed if replaced is None or k in replaced.get(table, ())]
        for start in range(0, len(keys), _CHUNK):
            part = keys[start : start + _CHUNK]
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
    expected = _expected(session)
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


# -- held to the log where it is used ----------------------------------------------------------

#: (database, seq) -> the seal entry's rows, parsed (entries never change: ``audit verify``
#: catches one that did). Bounded, least recently used dropped first.
_PARSED: OrderedDict[tuple[str, int], dict[str, dict[str, str | None]]] = OrderedDict()
_PARSED_MAX = 256


def _logged(session: Session, seqs: Iterable[int]) -> dict[int, dict[str, dict[str, str | None]]]:
    """The rows each of the ``row.seal`` entries ``seqs`` seals (table -> key -> digest); an
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
    for start in range(0, len(missing), _CHUNK):
        part = missing[start : start + _CHUNK]
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


#: (mapped class, table) -> the attribute names of its key columns, then of its sealed ones
_ATTRIBUTES: dict[tuple[type, str], tuple[list[str], int]] = {}


def _attributes(table: Table, row: Base) -> tuple[list[str], int]:
    """The attribute names of ``row`` for ``table``'s key columns, then its sealed columns, and
    how many key columns there are."""
    found = _ATTRIBUTES.get((type(row), table.name))
    if found is None:
        mapper = inspect(row).mapper
        keys = key_columns(table)
        columns = (*keys, *sealed_columns(table))
        found = [mapper.get_property_by_column(c).key for c in columns], len(keys)
        _ATTRIBUTES[(type(row), table.name)] = found
    return found


def _as_read(table: Table, row: Base) -> tuple[str, Sealed | None]:
    """(key, seal) of a row the session has just read, from its attributes; the seal is None
    when they may not be what the database holds (changed, expired or partly loaded): the row
    is then read again."""
    state = inspect(row)
    attrs, width = _attributes(table, row)
    loaded = state.dict
    key = key_text(tuple(loaded[a] if a in loaded else getattr(row, a) for a in attrs[:width]))
    if not state.persistent or state.modified or any(a not in loaded for a in attrs):
        return key, None
    names = [c.name for c in sealed_columns(table)]
    return key, _seal_of(table, names, key, [loaded[a] for a in attrs[width:]])


def rows_problems(session: Session, table_name: str, keys: Iterable[object]) -> dict[str, str]:
    """For each of ``keys`` whose row disagrees with the log: why. A key is a primary key
    value, a tuple of them, or the row itself as this transaction just read it (its digest is
    then taken from what was read, without reading it again). A row agrees when its digest is
    that of its seal and the seal is the log's. A key with neither row nor seal is not reported
    (nothing is there to act on)."""
    table = Base.metadata.tables[table_name]
    now: dict[str, Sealed] = {}
    wanted: set[str] = set()
    for k in keys:
        if isinstance(k, Base):
            key, seal = _as_read(table, k)
            if seal is not None:
                now[key] = seal
        else:
            key = key_text(k if isinstance(k, tuple) else (k,))
        wanted.add(key)
    texts = sorted(wanted)
    if not texts:
        return {}
    # rows an acting transaction wrote are sealed as it commits
    texts = sorted(set(texts) - noted(session.connection(), table_name, texts))
    unread = [k for k in texts if k not in now]
    known: dict[str, _Index] = {}
    joined: set[str] = set()  # read with their seal index entry, if they have one
    for key, seal, index in _rows_and_seals(session, table, unread):
        now[key] = seal
        joined.add(key)
        if index is not None:
            known[key] = index
    # rows read before, and rows that are gone: their seal index entries
    known.update(_indexed(session, table_name, [k for k in texts if k not in joined]))
    logged = _logged(session, (index.seq for index in known.values()))
    problems: dict[str, str] = {}
    for key in texts:
        seal, index = now.get(key), known.get(key)
        if seal is None and index is None:
            continue
        if index is None:
            problems[key] = "it has no seal in the audit log (written outside facetrail)"
        elif seal is None:
            problems[key] = "it was deleted outside facetrail"
        elif seal.digest != index.digest:
            changed = _changed_columns(table, seal.columns, index.columns)
            problems[key] = f"its {', '.join(changed) or 'content'} differ from its seal"
        elif logged.get(index.seq, {}).get(table_name, {}).get(key) != index.digest:
            problems[key] = f"its seal differs from the audit log's entry {index.seq}"
    return problems


def row_problem(session: Session, table_name: str, key: object) -> str | None:
    """Why one row disagrees with the log (``rows_problems``), or None."""
    return next(iter(rows_problems(session, table_name, [key]).values()), None)


def tampered(
    session: Session, what: str, rows: dict[str, Iterable[object]]
) -> RecordMismatchError | None:
    """The refusal to act on ``what`` (the account, the token ...) when one of its ``rows``
    (table -> keys) disagrees with the log, naming the row and how; None when all agree."""
    for table_name, keys in rows.items():
        problems = rows_problems(session, table_name, keys)
        if problems:
            key, problem = next(iter(problems.items()))
            return RecordMismatchError(
                f"{what} was changed outside facetrail and will not be used: {problem}",
                subject=f"{table_name} {key}",
            )
    return None


def require_sealed(session: Session, what: str, rows: dict[str, Iterable[object]]) -> None:
    """Raise ``tampered``'s refusal, if any."""
    if (error := tampered(session, what, rows)) is not None:
        raise error


def _changed_columns(table: Table, now: bytes, sealed: bytes) -> list[str]:
    names = [c.name for c in sealed_columns(table)]
    if len(now) != len(sealed):
        return []
    return [
        name
        for i, name in enumerate(names)
        if now[i * _DIGEST : (i + 1) * _DIGEST] != sealed[i * _DIGEST : (i + 1) * _DIGEST]
    ]


# -- audit verify: the rows the log says must exist --------------------------------------------


@dataclass(frozen=True)
class RowFinding:
    """A row that disagrees with the log: ``missing`` (sealed, gone), ``extra`` (never
    sealed), ``different`` (its ``columns`` changed; empty when they cannot be named)."""

    table: str
    key: str
    how: str
    columns: tuple[str, ...] = ()
    #: the entry that last sealed it (None for an extra row)
    seq: int | None = None

    def __str__(self) -> str:
        where = f"{self.table} {self.key}"
        if self.how == "missing":
            return f"{where} is missing (sealed by entry {self.seq})"
        if self.how == "extra":
            return f"{where} is not in the audit log (added outside facetrail)"
        named = f" (column {', '.join(self.columns)})" if self.columns else ""
        return f"{where} differs from its seal in entry {self.seq}{named}"


def _expected(
    session: Session, seals: Sequence[tuple[int, dict[str, Any]]] | None = None
) -> dict[str, dict[str, tuple[str, int]]]:
    """table -> key -> (digest, seq of the entry that last sealed it), from the log alone
    (``seals``: its ``row.seal`` entries' details, parsed already, in order)."""
    expected: dict[str, dict[str, tuple[str, int]]] = {}
    if seals is None:
        entries = session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.details)
            .where(AuditEntryRow.kind == SEAL_KIND)
            .order_by(AuditEntryRow.seq)
        )
        seals = [(int(seq), json.loads(details)) for seq, details in entries]
    for seq, parsed in seals:
        rows = parsed.get("rows", {})
        for table, keyed in rows.items():
            held = expected.setdefault(table, {})
            for key, digest in keyed.items():
                if digest is None:
                    held.pop(key, None)
                else:
                    held[key] = (digest, seq)
    return expected


def row_findings(
    session: Session,
    limit: int = 1000,
    *,
    seals: Sequence[tuple[int, dict[str, Any]]] | None = None,
) -> list[RowFinding]:
    """Every row (up to ``limit``) that disagrees with the log's seals, table by table: the
    log is replayed into the rows that must exist and their digests, and every stored row is
    digested and compared. The seal index (``row_seals``) must agree with the log too.
    ``seals``: the ``row.seal`` entries' details as ``audit verify`` parsed them (else read
    here)."""
    expected = _expected(session, seals)
    findings: list[RowFinding] = []
    for table in sealed_tables():
        findings += _table_findings(session, table, expected.get(table.name, {}))
        if len(findings) >= limit:
            return findings[:limit]
    findings += _index_findings(session, expected)
    return findings[:limit]


def _table_findings(
    session: Session, table: Table, expected: dict[str, tuple[str, int]]
) -> list[RowFinding]:
    findings: list[RowFinding] = []
    seen: set[str] = set()
    for key, seal in current_seals(session, table):
        seen.add(key)
        want = expected.get(key)
        if want is None:
            findings.append(RowFinding(table.name, key, "extra"))
        elif want[0] != seal.digest:
            index = session.get(RowSeal, (table.name, key))
            named = _named(table, key, seal, want[0], index)
            findings.append(RowFinding(table.name, key, "different", named, want[1]))
    for key in sorted(set(expected) - seen):
        findings.append(RowFinding(table.name, key, "missing", (), expected[key][1]))
    return findings


def _index_findings(
    session: Session, expected: dict[str, dict[str, tuple[str, int]]]
) -> list[RowFinding]:
    """Seal index rows that are not the log's latest seal of their row."""
    findings: list[RowFinding] = []
    indexed: set[tuple[str, str]] = set()
    for name, key, digest, seq in session.execute(
        select(RowSeal.tbl, RowSeal.key, RowSeal.digest, RowSeal.seq)
    ):
        indexed.add((name, key))
        if expected.get(name, {}).get(key) != (digest, seq):
            findings.append(RowFinding("row_seals", f"{name} {key}", "different", (), seq))
    for name, keyed in expected.items():
        for key, (_digest, seq) in keyed.items():
            if (name, key) not in indexed:
                findings.append(RowFinding("row_seals", f"{name} {key}", "missing", (), seq))
    return findings


def _named(
    table: Table, key: str, now: Sealed, digest: str, index: RowSeal | None
) -> tuple[str, ...]:
    """The columns that changed, read from the seal index's column digests when its entry
    for the row holds the log's digest (else none are named: the row still is)."""
    if index is None or index.digest != digest:
        return ()
    return tuple(_changed_columns(table, now.columns, bytes(index.columns)))
