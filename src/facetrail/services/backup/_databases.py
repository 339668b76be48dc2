"""The database copied by its own online method, and read back: SQLite's backup API (one
consistent snapshot while writers go on), PostgreSQL's ``pg_dump -Fc`` run on a snapshot
exported from a transaction that also reads what the manifest says of it (so the log's size
and root, the counts and the dump are one moment), and ``pg_restore`` into an empty database.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, inspect, make_url, select

from facetrail.errors import BackupFailedError, BackupToolMissingError
from facetrail.governance.checkpoints import Checkpoint
from facetrail.governance.merkle import CompactRange
from facetrail.governance.restores import LogHead
from facetrail.store.schema import (
    AuditEntryRow,
    AuditHeadRow,
    CheckpointRow,
    Face,
    Gallery,
    SearchRecord,
    TemplateRow,
    User,
)
from facetrail.store.schema_version import revision_of

SQLITE_FILE = "database/facetrail.db"
PG_DUMP_FILE = "database/facetrail.dump"
#: Where Debian and Ubuntu install PostgreSQL's client tools, one folder per major version.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: Longest a dump or restore may run before it is stopped (and what it wrote removed).
TOOL_TIMEOUT_S = 6 * 3600


@dataclass(frozen=True)
class Snapshot:
    """What the manifest says of the database as copied."""

    schema: str | None
    head: LogHead
    #: the last signed checkpoint in the copy (its origin filled in by the caller)
    checkpoint: Checkpoint | None
    counts: dict[str, int]


def counts(connection: Connection) -> dict[str, int]:
    """What a restore is compared by: the log's entries and what people see of it."""

    def count(column: Any) -> int:
        return int(connection.execute(select(func.count(column))).scalar() or 0)

    return {
        "audit_entries": count(AuditEntryRow.seq),
        "checkpoints": count(CheckpointRow.id),
        "users": count(User.id),
        "galleries": count(Gallery.id),
        "faces": count(Face.id),
        "templates": count(TemplateRow.id),
        "searches": count(SearchRecord.id),
        "cases": count(func.distinct(SearchRecord.case_number)),
    }


def read_snapshot(connection: Connection, origin: str) -> Snapshot:
    """The schema revision, log head, last checkpoint and counts, as ``connection`` sees them."""
    row = connection.execute(
        select(AuditHeadRow.size, AuditHeadRow.frontier).where(AuditHeadRow.id == 1)
    ).first()
    if row is None:  # a log made before the head row: computed from the leaves
        compact = CompactRange()
        for (leaf,) in connection.execute(
            select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq)
        ):
            compact.push(bytes(leaf))
    else:
        compact = CompactRange.from_bytes(int(row[0]), bytes(row[1]))
    last = connection.execute(
        select(CheckpointRow).order_by(CheckpointRow.tree_size.desc(), CheckpointRow.id.desc())
    ).first()
    checkpoint = None
    if last is not None:
        checkpoint = Checkpoint(
            origin, last.tree_size, bytes(last.root), last.at, last.key_id, bytes(last.signature)
        )
    return Snapshot(
        revision_of(connection),
        LogHead(compact.size, compact.root()),
        checkpoint,
        counts(connection),
    )


# --- SQLite --------------------------------------------------------------------------------


def sqlite_backup(source: Path, target: Path, origin: str) -> Snapshot:
    """Copy the live database ``source`` into the new file ``target`` with SQLite's backup API
    (all pages in one step: one consistent snapshot; writers are not blocked in WAL mode),
    then leave the copy in rollback-journal mode so that it is one file, and read it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source.resolve()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupFailedError(f"SQLite's backup failed ({exc})", subject=str(source)) from exc
    finally:
        src.close()
    with sqlite_read(target) as connection:
        return read_snapshot(connection, origin)


@contextmanager
def sqlite_read(path: Path) -> Iterator[Connection]:
    """A read-only connection on a SQLite file (nothing is created beside it)."""
    engine = create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&immutable=1&uri=true")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


# --- PostgreSQL ----------------------------------------------------------------------------


def pg_tool(name: str) -> Path:
    """``pg_dump`` or ``pg_restore``: on the PATH, else the newest in ``PG_BIN_GLOB``."""
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = [Path(folder) / name for folder in glob.glob(PG_BIN_GLOB)]
    usable = [p for p in candidates if os.access(p, os.X_OK)]
    if not usable:
        raise BackupToolMissingError(
            f"PostgreSQL's {name} is needed and was found neither on the PATH nor in "
            f"{PG_BIN_GLOB}: install the PostgreSQL client tools (postgresql-client)",
            subject=name,
        )
    return max(usable, key=lambda p: _major(p.parent.parent.name))


def _major(version: str) -> int:
    return int(version) if version.isdigit() else -1


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL as libpq's URI, the password passed in the environment (never on a
    command line, where ``ps`` shows it)."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str, subject: str) -> None:
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupFailedError(f"{what} could not run ({exc})", subject=subject) from exc
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise BackupFailedError(f"{what} failed: {said[0]}", subject=subject)


def pg_backup(engine: Engine, url: str, target: Path, origin: str) -> Snapshot:
    """``pg_dump -Fc`` of the database into ``target``, on a snapshot exported from a
    REPEATABLE READ transaction that reads the manifest's facts from the same snapshot."""
    dump = pg_tool("pg_dump")
    target.parent.mkdir(parents=True, exist_ok=True)
    libpq, env = _libpq(url)
    shown = make_url(url).render_as_string(hide_password=True)
    with engine.connect() as plain:
        # The first statement begins the transaction; it stays open (and its snapshot
        # valid) until the connection closes after the dump.
        connection = plain.execution_options(isolation_level="REPEATABLE READ")
        snapshot_id = str(connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
        facts = read_snapshot(connection, origin)
        command = [str(dump), "-Fc", f"--snapshot={snapshot_id}", "-f", str(target), libpq]
        _run(command, env, "pg_dump", shown)
    return facts


def pg_is_empty(url: str) -> bool:
    """Whether the database at ``url`` holds no table."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return not inspect(connection).get_table_names()
    finally:
        engine.dispose()


def pg_restore(url: str, dump_file: Path) -> None:
    """``pg_restore`` the dump into the (empty) database at ``url`` in one transaction: a
    failure leaves it as empty as it was."""
    tool = pg_tool("pg_restore")
    libpq, env = _libpq(url)
    shown = make_url(url).render_as_string(hide_password=True)
    command = [
        str(tool),
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        "-d",
        libpq,
        str(dump_file),
    ]
    _run(command, env, "pg_restore", shown)
