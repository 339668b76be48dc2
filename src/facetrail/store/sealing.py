"""Which rows the audit log seals, and how an acting transaction learns which rows it wrote.

Every table of the models is sealed, every column of it, except what ``UNSEALED_TABLES`` and
``UNSEALED_COLUMNS`` list with the reason: the log itself and what is derived from it, and
progress counters written outside any action. A table or column added later is sealed unless
it is listed here (tests/security/test_sealing.py enumerates the schema).

Capture is below every write, not beside each one: a trigger on each sealed table notes the
key of every row inserted, updated or deleted in ``seal_pending``; the acting transaction
(``AppContext.transaction``) reads its own notes before it commits and seals those rows
(``governance.seals``). Only facetrail's own acting transactions are sealed:
- SQLite: the triggers and the notes are TEMP, made on each of facetrail's connections, so a
  write from any other connection (an insider's shell) is never noted, and the notes are
  emptied when an action begins;
- PostgreSQL: the triggers are the database's (migration 0006 or a new database), and each
  note carries the writing transaction's id, so an action seals only its own rows.
A write that bypasses them (a trigger dropped, another connection) is simply not sealed:
``audit verify`` then names the row as different, extra or missing.
"""

from __future__ import annotations

import functools
import sqlite3

from sqlalchemy import Column, Connection, Table, inspect

from facetrail.store.schema import Base

__all__ = [
    "ALL_CHANGED",
    "UNSEALED_COLUMNS",
    "UNSEALED_TABLES",
    "install_capture",
    "key_columns",
    "key_text",
    "parse_key",
    "sealed_columns",
    "sealed_tables",
]

#: Tables not sealed row by row, and why.
UNSEALED_TABLES: dict[str, str] = {
    "audit_entries": "the log itself: each entry is a Merkle leaf, held by the tree, the log "
    "head and the signed checkpoints that witnesses cosign",
    "audit_head": "derived from the entries (their count and Merkle frontier); audit verify "
    "recomputes it from them",
    "audit_checkpoints": "each is signed by the log's key kept outside the home; audit verify "
    "checks every signature and root",
    "audit_tile_hashes": "derived from the entries' leaf hashes (the hashes of full tiles); "
    "every proof made from them is checked against a signed checkpoint's root before it is "
    "given, and audit verify recomputes each from the entries and names one that differs, "
    "is missing or was added",
    "seal_pending": "scratch notes of the rows an action is writing, emptied as it seals them",
    "row_seals": "an index of the log's seals, read at the point of use; audit verify rebuilds "
    "it from the log and names any row it disagrees with",
}

#: Columns of sealed tables left out of their row's seal, and why.
UNSEALED_COLUMNS: dict[tuple[str, str], str] = {
    ("jobs", "done_items"): "progress, written by the worker's heartbeat between actions",
    ("jobs", "total_items"): "progress, written by the worker's heartbeat between actions",
    ("jobs", "heartbeat_at"): "liveness, written by the worker's heartbeat between actions",
}

#: The separator of a composite key's parts in its text form (no key part holds it).
_SEPARATOR = ":"

#: A note's changed columns when the row was inserted or deleted: every column.
ALL_CHANGED = "*"


def sealed_tables() -> list[Table]:
    """Every sealed table of the models, in name order."""
    tables = Base.metadata.tables.values()
    return sorted((t for t in tables if t.name not in UNSEALED_TABLES), key=lambda t: t.name)


@functools.cache
def sealed_columns(table: Table) -> tuple[Column[object], ...]:
    """The columns of ``table`` its rows' seals cover, in name order."""
    kept = [c for c in table.columns if (table.name, c.name) not in UNSEALED_COLUMNS]
    return tuple(sorted(kept, key=lambda c: c.name))


@functools.cache
def key_columns(table: Table) -> tuple[Column[object], ...]:
    return tuple(table.primary_key.columns)


def key_text(values: tuple[object, ...]) -> str:
    """A row's key as the log names it: its primary key's values joined by ':'."""
    return str(values[0]) if len(values) == 1 else _SEPARATOR.join(map(str, values))


def parse_key(table: Table, text: str) -> tuple[object, ...]:
    """A key as ``key_text`` wrote it, back in its columns' types."""
    columns = key_columns(table)
    parts = text.split(_SEPARATOR, len(columns) - 1)
    return tuple(
        int(part) if column.type.python_type is int else part
        for column, part in zip(columns, parts, strict=True)
    )


def _sqlite_key(table: Table, row: str) -> str:
    parts = [f"CAST({row}.{c.name} AS TEXT)" for c in key_columns(table)]
    return f" || '{_SEPARATOR}' || ".join(parts)


def _sqlite_changed(table: Table) -> str:
    """An UPDATE's changed columns as text ('a,b,'), from its OLD and NEW rows."""
    cases = [
        f"(CASE WHEN OLD.{c.name} IS NOT NEW.{c.name} THEN '{c.name},' ELSE '' END)"
        for c in table.columns
    ]
    return " || ".join(cases)


def _sqlite_triggers(table: Table) -> list[str]:
    note = "INSERT OR IGNORE INTO seal_pending (tbl, key, changed) VALUES ('{t}', {k}, {c});"
    changed = _sqlite_changed(table)
    inserted = note.format(t=table.name, k=_sqlite_key(table, "NEW"), c=f"'{ALL_CHANGED}'")
    deleted = note.format(t=table.name, k=_sqlite_key(table, "OLD"), c=f"'{ALL_CHANGED}'")
    updated = note.format(t=table.name, k=_sqlite_key(table, "OLD"), c=changed)
    updated += note.format(t=table.name, k=_sqlite_key(table, "NEW"), c=changed)
    name = f"facetrail_seal_{table.name}"
    on = f"ON main.{table.name} FOR EACH ROW BEGIN"
    return [
        f"CREATE TEMP TRIGGER IF NOT EXISTS {name}_i AFTER INSERT {on} {inserted} END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {name}_u AFTER UPDATE {on} {updated} END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {name}_d AFTER DELETE {on} {deleted} END",
    ]


_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION facetrail_seal_note() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  rows jsonb[] := ARRAY[]::jsonb[];
  r jsonb;
  k text;
  i int;
  changed text := '*';
BEGIN
  IF TG_OP <> 'INSERT' THEN rows := rows || to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN rows := rows || to_jsonb(NEW); END IF;
  IF TG_OP = 'UPDATE' THEN
    SELECT coalesce(string_agg(n.key || ',', '' ORDER BY n.key), '') INTO changed
      FROM jsonb_each(rows[2]) n WHERE n.value IS DISTINCT FROM (rows[1] -> n.key);
  END IF;
  FOREACH r IN ARRAY rows LOOP
    k := r ->> TG_ARGV[0];
    FOR i IN 1 .. TG_NARGS - 1 LOOP
      k := k || ':' || (r ->> TG_ARGV[i]);
    END LOOP;
    INSERT INTO seal_pending (txid, tbl, key, changed)
      VALUES (txid_current(), TG_TABLE_NAME, k, changed) ON CONFLICT DO NOTHING;
  END LOOP;
  RETURN NULL;
END $$
"""


def _pg_statements(present: set[str]) -> list[str]:
    out = [_PG_FUNCTION]
    for table in sealed_tables():
        if table.name not in present:  # made by a later migration, which installs it then
            continue
        names = ", ".join(f"'{c.name}'" for c in key_columns(table))
        out.append(f"DROP TRIGGER IF EXISTS facetrail_seal ON {table.name}")
        out.append(
            f"CREATE TRIGGER facetrail_seal AFTER INSERT OR UPDATE OR DELETE ON {table.name} "
            f"FOR EACH ROW EXECUTE FUNCTION facetrail_seal_note({names})"
        )
    return out


def install_capture(connection: Connection) -> None:
    """PostgreSQL: make every sealed table's trigger, which writes the notes table
    ``seal_pending`` (a new database, or migration 0006); idempotent. SQLite keeps its
    triggers per connection (``begin_capture``). Only the tables the database has so far: a
    migration that adds a sealed table calls this again."""
    if connection.dialect.name != "postgresql":
        return
    present = set(inspect(connection).get_table_names())
    for statement in _pg_statements(present):
        connection.exec_driver_sql(statement)


#: Set in a connection's ``info`` while an acting transaction runs on it (``begin_capture``).
_CAPTURING = "facetrail_capturing"


def begin_capture(connection: Connection) -> None:
    """At the start of an acting transaction: SQLite empties its connection's notes (left by a
    write outside an action), making its TEMP notes table and triggers when they are missing
    (the first time, or after a transaction that made them was rolled back: SQLite's DDL is
    transactional). PostgreSQL's notes are per transaction already. Until ``end_capture``,
    ``noted_many`` answers for the connection."""
    connection.info[_CAPTURING] = True
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        driver.execute("DELETE FROM temp.seal_pending")
    except sqlite3.OperationalError:  # no such table: made now
        driver.execute(
            "CREATE TEMP TABLE seal_pending (tbl TEXT NOT NULL, key TEXT NOT NULL,"
            " changed TEXT NOT NULL, PRIMARY KEY (tbl, key, changed)) WITHOUT ROWID"
        )
        for table in sealed_tables():
            for statement in _sqlite_triggers(table):
                driver.execute(statement)


def end_capture(connection: Connection) -> None:
    """The acting transaction on ``connection`` is over (committed or not)."""
    connection.info.pop(_CAPTURING, None)


def noted_many(connection: Connection, wanted: dict[str, list[str]]) -> dict[str, set[str]]:
    """Which of the keys of several tables (table -> keys) this acting transaction has written
    so far (still to be sealed when it commits), in one statement; none outside an acting
    transaction, where a note can only be a write made outside any action, which nothing
    seals."""
    if not connection.info.get(_CAPTURING):
        return {}
    pairs = [(table, key) for table, keys in sorted(wanted.items()) for key in keys]
    if not pairs:
        return {}
    sqlite = connection.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    driver = connection.connection.driver_connection
    assert driver is not None
    found: dict[str, set[str]] = {}
    cursor = driver.cursor()
    try:
        for start in range(0, len(pairs), _NOTED_CHUNK):
            part = pairs[start : start + _NOTED_CHUNK]
            tuples = ", ".join(f"({mark}, {mark})" for _ in part)
            flat = [text for pair in part for text in pair]
            if sqlite:
                cursor.execute(
                    f"SELECT tbl, key FROM temp.seal_pending WHERE (tbl, key) IN (VALUES {tuples})",
                    flat,
                )
            else:
                cursor.execute(
                    f"SELECT tbl, key FROM seal_pending WHERE txid = txid_current() "
                    f"AND (tbl, key) IN ({tuples})",
                    flat,
                )
            for table, key in cursor.fetchall():
                found.setdefault(str(table), set()).add(str(key))
    except sqlite3.OperationalError:  # a connection that never acted: it wrote nothing
        return {}
    finally:
        cursor.close()
    return found


#: (table, key) pairs looked up in one statement
_NOTED_CHUNK = 500


def take_notes(connection: Connection) -> dict[tuple[str, str], frozenset[str] | None]:
    """Every row this transaction wrote, (table, key) -> the columns its updates changed (None:
    inserted or deleted, so all of them), forgetting them."""
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        if connection.dialect.name == "postgresql":
            cursor.execute(
                "DELETE FROM seal_pending WHERE txid = txid_current() RETURNING tbl, key, changed"
            )
            found = cursor.fetchall()
            # notes of writes made between actions (a job's heartbeat), never sealed
            cursor.execute("DELETE FROM seal_pending WHERE txid <> txid_current()")
        else:
            cursor.execute("SELECT tbl, key, changed FROM temp.seal_pending")
            found = cursor.fetchall()
            if found:
                cursor.execute("DELETE FROM temp.seal_pending")
    finally:
        cursor.close()
    notes: dict[tuple[str, str], frozenset[str] | None] = {}
    for table, key, changed in found:
        note = (str(table), str(key))
        before = notes.get(note, frozenset())
        if changed == ALL_CHANGED or before is None:
            notes[note] = None
        else:
            notes[note] = before | frozenset(n for n in str(changed).split(",") if n)
    return notes
