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

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Table,
    delete,
    select,
)
from sqlalchemy.orm import Session

from facetrail.errors import SealRefusedError
from facetrail.governance.audit import AuditEvent, append, appended_in
from facetrail.governance.seal_digests import (
    HEX_DIGEST,
    Sealed,
    changed_columns,
    columns_hash,
    logged_columns,
    logged_digest,
    logged_value,
    seal_of,
)
from facetrail.governance.seal_follower import last_seals
from facetrail.governance.seal_reads import (
    CHUNK,
    SEAL_KIND,
    IndexEntry,
    IndexRead,
    LoggedRows,
    current_seals,
    indexed,
    logged_rows,
    read_with_index,
    rows_and_seals,
)
from facetrail.store.schema import AuditEntryRow, Base, RowSeal
from facetrail.store.sealing import (
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
    # The rows this transaction updated into another digest: their index entries are held to
    # the log's last seals of them (not an older one put back) before their column digests
    # are believed.
    updated = {
        table_name: [
            key
            for key, before in known.items()
            if wanted[table_name][key] is not None
            and key in now
            and before.digest != now[key].digest
        ]
        for table_name, (now, known) in read.items()
    }
    last = last_seals(session, updated) if any(updated.values()) else {}
    logged = logged_rows(session, (q for seqs in last.values() for q in seqs.values() if q >= 0))
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
                last_seq = last.get(table_name, {}).get(key)
                _refuse_laundering(table, key, seal, before, keys[key], (last_seq, logged))
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
    log: tuple[int | None, dict[int, LoggedRows]],
) -> None:
    """Refuse to seal a row this transaction updated when what it did not write differs from
    the row's seal: the row had been changed outside facetrail, and sealing it now would make
    the log vouch for that change. ``written``: the columns the transaction's updates changed
    (None: it inserted or deleted the row). The seal index entry is believed only where it is
    the log's last seal of the row (``log``: that seal's seq, and the seal entries read):
    its digest, and its column digests, which name what changed."""
    if written is None:
        return
    where = f"{table.name} {key}"
    if before is None:
        raise SealRefusedError(
            f"{where} was written outside facetrail (it has no seal) and will not be sealed",
            subject=where,
        )
    if before.digest == now.digest:
        return
    last, logged = log
    value = logged.get(before.seq, {}).get(table.name, {}).get(key)
    columns = logged_columns(value)
    if (
        last != before.seq
        or logged_digest(value) != before.digest
        or (columns is not None and columns != columns_hash(before.columns))
    ):
        raise SealRefusedError(
            f"{where} has a seal index entry that is not the audit log's last seal of it "
            f"(entry {before.seq}): it was changed outside facetrail and will not be sealed",
            subject=where,
        )
    outside = [c for c in changed_columns(table, now.columns, before.columns) if c not in written]
    if outside or len(now.columns) != len(before.columns):
        raise SealRefusedError(
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
            (table, key, entry.seq, s.digest, s.columns)
            for key, s in changed.items()
            if s is not None
        ]
        if kept:
            _insert_seals(session, kept)
    return entry.seq


#: (dialect and driver) -> the seal index's insert as the driver takes it
_INSERTS: dict[str, str] = {}


def _insert_seals(session: Session, rows: list[tuple[str, str, int, str, bytes]]) -> None:
    """Add (tbl, key, seq, digest, columns) rows to the seal index, on the driver's own cursor
    (every action seals the rows it wrote: SQLAlchemy's work per statement is not needed for
    a table with no ORM events and no defaults)."""
    connection = session.connection()
    dialect = connection.dialect
    cache = f"{dialect.name}+{dialect.driver}:{dialect.paramstyle}"
    sql = _INSERTS.get(cache)
    if sql is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        table = Base.metadata.tables["row_seals"]
        quote = dialect.identifier_preparer.quote
        sql = _INSERTS[cache] = (
            f"INSERT INTO {quote(table.name)} "
            f"({', '.join(quote(c) for c in _INDEX_COLUMNS)}) "
            f"VALUES ({', '.join(mark for _ in _INDEX_COLUMNS)})"
        )
        assert {c.name for c in table.columns} == set(_INDEX_COLUMNS)
    driver: Any = connection.connection.driver_connection
    cursor = driver.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


_INDEX_COLUMNS = ("tbl", "key", "seq", "digest", "columns")


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
    width = HEX_DIGEST
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
