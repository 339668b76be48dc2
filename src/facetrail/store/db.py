"""Engine and sessions. SQLite runs in WAL mode with foreign keys and secure_delete on;
PostgreSQL as given.

Transactions that act (``AppContext.transaction``) take the database's write lock before their
first read, so what they check cannot change before they act: on SQLite ``BEGIN IMMEDIATE``
(pysqlite would otherwise send a deferred ``BEGIN`` only before the first write, leaving the
reads at the top of a transaction unisolated); on PostgreSQL a transaction-scoped advisory lock.
Read-only sessions begin a plain (deferred) transaction: one consistent snapshot, no lock.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from facetrail.errors import (
    DatabaseDriverMissingError,
    DatabaseUnavailableError,
    DatabaseUnreadableError,
    InvalidFieldError,
    SchemaOutdatedError,
    StorageFullError,
)
from facetrail.store.schema_version import prepare


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted content is overwritten with zeros, so an erased person's template bytes are
    # gone from the file, not only unlinked (services.rights.erasure also empties the WAL after).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
    # Let SQLAlchemy's "begin" event send BEGIN itself (the SQLAlchemy-documented recipe), so
    # that an acting transaction can ask for BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None


#: Execution option an acting transaction sets on its connection before it begins.
LOCKING = "facetrail_locking"
#: Key of the PostgreSQL advisory lock that serialises acting transactions.
_PG_ACTION_LOCK = 0x66616365  # "face"


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(LOCKING, False)
    # On the driver's connection: SQLAlchemy's statement machinery would cost more than the
    # BEGIN itself, on every action (bench/audit_cost.py).
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    try:
        connection.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
    except sqlite3.Error as exc:  # as SQLAlchemy would raise it ("database is locked", ...)
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _refuse_nul(
    _conn: Connection,
    _cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    _executemany: bool,
) -> tuple[str, Any]:
    """Refuse text holding NUL before it reaches the database, on both databases alike.

    PostgreSQL cannot store or even compare NUL in text (psycopg raises ``DataError``);
    SQLite can. No stored text holds one (``governance.fields`` refuses control characters),
    so a lookup with one could match nothing; whichever route or command sent it gets a typed
    ``InvalidFieldError`` naming the field (the bound parameter's column) instead of a
    database error, and a refusal inside an action is audited as any other."""
    batched = not isinstance(parameters, dict) and all(
        isinstance(row, (dict, list, tuple)) for row in parameters or ()
    )
    rows = parameters if batched else (parameters,)
    names = list(getattr(getattr(context, "compiled", None), "positiontup", None) or ())
    for row in rows:
        pairs = row.items() if isinstance(row, dict) else enumerate(row or ())
        for key, value in pairs:
            if isinstance(value, str) and "\x00" in value:
                name = key if isinstance(key, str) else (names[key] if key < len(names) else "")
                raise InvalidFieldError(
                    "must not contain the control character U+0000",
                    subject=re.sub(r"_\d+$", "", name) or "text",
                )
    return statement, parameters


#: SQLite's result code for a full disk (SQLITE_FULL); PostgreSQL's SQLSTATE (disk_full).
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


def _full_disk(context: ExceptionContext) -> StorageFullError | None:
    """A database that has no room left for a write (SQLite's "database or disk is full",
    PostgreSQL's "could not extend file" with SQLSTATE 53100) as the typed error raised in
    its place: the transaction rolls back as on any error, the refusal is audited where the
    action is (if there is room for that), and a client is answered 507, never a traceback."""
    said = context.original_exception
    full = (
        getattr(said, "sqlite_errorcode", None) == _SQLITE_FULL
        or getattr(said, "sqlstate", None) == _PG_DISK_FULL
        or "database or disk is full" in str(said)
    )
    if not full:
        return None
    return StorageFullError(
        "cannot write to the database: its disk is full; nothing was stored (the "
        "transaction was rolled back)",
        subject="database",
    )


#: Serialises acting transactions on PostgreSQL (SQLite's BEGIN IMMEDIATE already does).
PG_ACTION_LOCK_SQL = f"SELECT pg_advisory_xact_lock({_PG_ACTION_LOCK})"


def lock_for_action(connection: Connection) -> None:
    """Serialise acting transactions on PostgreSQL (SQLite's BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(PG_ACTION_LOCK_SQL)


def make_engine(url: str, *, prepare_schema: bool = True) -> Engine:
    """An engine for ``url``. ``prepare_schema``: make a new database, refuse one that is not
    at the schema revision this code needs (``store.schema_version``); off for ``db
    upgrade``, which brings it there."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        # A pooled connection is tried before it is handed out: one the server dropped (a
        # restart, an outage) is replaced, so the service comes back by itself.
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except ModuleNotFoundError as exc:  # e.g. postgresql+psycopg without the extra
        raise DatabaseDriverMissingError(
            f"the database driver {exc.name!r} is not installed: pip install "
            "'facetrail[postgres]' for PostgreSQL",
            subject=make_url(url).render_as_string(hide_password=True),
        ) from exc
    event.listen(engine, "before_cursor_execute", _refuse_nul, retval=True)
    event.listen(engine, "handle_error", _full_disk)
    if engine.dialect.name != "sqlite":
        event.listen(engine, "do_connect", _connect_retried)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    if not prepare_schema:
        return engine
    try:
        prepare(engine)  # a new database is made; an existing one must be current
    except DBAPIError as exc:
        engine.dispose()
        if engine.dialect.name != "sqlite" and (outage := outage_of(exc)) is not None:
            raise outage from exc  # its server down or restarting: not the database's fault
        raise DatabaseUnreadableError(
            f"cannot open the database ({type(exc.orig).__name__}: {exc.orig})",
            subject=engine.url.render_as_string(hide_password=True),
        ) from exc
    except SchemaOutdatedError:
        engine.dispose()
        raise
    return engine


#: Pauses between the tries of a new connection to a database server that refused it (a
#: restart's second or two): bounded, so that an outage is answered 503 within a second.
CONNECT_RETRIES = (0.1, 0.3, 0.6)


def _connect_retried(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """A new connection, tried again after each pause of ``CONNECT_RETRIES`` while the server
    cannot be reached; the last try's error is the caller's (an outage: 503)."""
    for pause in CONNECT_RETRIES:
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError as exc:
            state = getattr(exc, "sqlstate", None)
            if state and not state.startswith(_GONE):
                raise  # the server answered (no such database, a wrong password): no outage
            time.sleep(pause)
    return dialect.connect(*cargs, **cparams)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


#: SQLSTATEs of a server going away: a connection exception (class 08), or the server shutting
#: down, crashed or starting (57P01..57P03). A server that answers with another state (no such
#: database, a wrong password) is reachable: that is no outage.
_GONE = ("08", "57P01", "57P02", "57P03")


def outage_of(exc: BaseException) -> DatabaseUnavailableError | None:
    """The database out of reach behind ``exc`` (its server refused or dropped the
    connection, or is restarting: an operational or interface error the server did not
    answer with a state of its own, or one of ``_GONE``, here or in what led to it), as the
    typed error a client is answered with; None when ``exc`` is something else."""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain of causes, never a loop
        if seen is None:
            return None
        if isinstance(seen, DatabaseUnavailableError):
            return seen
        state = getattr(getattr(seen, "orig", None), "sqlstate", None)
        gone = str(state).startswith(_GONE) if state is not None else _unanswered(seen)
        if isinstance(seen, DisconnectionError) or (
            isinstance(seen, OperationalError | InterfaceError) and gone
        ):
            return DatabaseUnavailableError(
                "the database cannot be reached just now: nothing was done; try again in a "
                "few seconds",
                subject="database",
            )
        seen = seen.__cause__ or seen.__context__
    return None


#: What a server says, refusing a connection, while it goes down or comes up.
_PASSING = ("shutting down", "starting up", "in recovery", "not yet accepting connections")


def _unanswered(exc: BaseException) -> bool:
    """A driver's error with no state of the server's: the server did not answer at all, or
    answered that it is going down or coming up (a "FATAL:" message on connecting, such as
    no such database or a wrong password, is an answer: the server is there)."""
    said = str(getattr(exc, "orig", None) or exc)
    return "FATAL:" not in said or any(passing in said for passing in _PASSING)


def one_line(exc: BaseException) -> str:
    """``exc`` in one short line: its kind and the first line of what the driver said."""
    said = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {said[0][:200] if said else ''}"
