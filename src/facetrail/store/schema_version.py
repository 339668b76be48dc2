"""Which version of the schema a database holds, and bringing it to the one the code needs.

- A new (empty) database is made from the models and stamped ``HEAD`` in one locked
  transaction (the migrations make the same schema: tests/store/test_migrations.py).
- A database at ``HEAD`` opens at the cost of one query.
- Anything else is refused before it is written to, saying what to run: ``facetrail db
  upgrade`` (``upgrade`` here), which applies the migrations, and first adopts a database
  made before migrations existed (tables from ``create_all``, no version table) when it holds
  every table and column of the first revision. Older ones cannot be adopted: start a new home.
- Migrations run in one locked transaction. On SQLite, foreign keys are off while they run:
  adding a constraint rebuilds a table (copy, drop, rename), and dropping a table with foreign
  keys on deletes its rows first, cascading. SQLite ignores the pragma inside a transaction,
  so it is set on the connection before BEGIN, and set back after; the migrations check the
  foreign keys themselves before they end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from facetrail.errors import SchemaOutdatedError
from facetrail.store.migrations import HEAD, SCRIPT_LOCATION
from facetrail.store.schema import Base
from facetrail.store.sealing import install_capture

__all__ = [
    "FIRST",
    "UpgradeReport",
    "check_columns",
    "downgrade",
    "prepare",
    "revision_of",
    "upgrade",
]

#: The first revision: what a database made by ``create_all`` before migrations holds.
FIRST = "0001_initial"
_VERSION_TABLE = "alembic_version"
_UPGRADE = "run 'facetrail db upgrade' (back the home up first)"


@dataclass(frozen=True)
class UpgradeReport:
    before: str | None
    after: str
    adopted: bool


def revision_of(connection: Connection) -> str | None:
    """The revision a database is stamped with (None: not stamped)."""
    return MigrationContext.configure(connection).get_current_revision()


#: Columns a migration after the first revision adds: a home made before migrations (at the
#: first revision's schema) lacks them until ``upgrade`` adds them.
ADDED_AFTER_FIRST = frozenset(
    {
        ("galleries", "templates_version"),
        ("audit_entries", "agency"),
        ("galleries", "staff_of"),
        ("search_candidates", "erased_at"),
        ("search_candidates", "erasure_receipt"),
        ("searches", "withheld"),
        ("erasures", "agency_id"),
        ("erasures", "approved_by"),
        ("erasures", "approved_at"),
        ("erasures", "decided_by"),
        ("erasures", "photos"),
    }
)


def check_columns(connection: Connection) -> None:
    """Every table of the models that the database has holds every column the first
    revision had (a home made before migrations is adopted at that revision)."""
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        needed = [c.name for c in table.columns if (table.name, c.name) not in ADDED_AFTER_FIRST]
        if missing := [name for name in needed if name not in present]:
            raise SchemaOutdatedError(
                f"table {table.name} lacks column {missing[0]}: this home was made by a "
                "facetrail older than its migrations. Keep it for its records and start a new "
                "home (set FACETRAIL_HOME)",
                subject=table.name,
            )


@contextmanager
def _locked(engine: Engine, *, migrating: bool = False) -> Iterator[Connection]:
    """A transaction holding the write lock (as every acting one does): two processes opening
    a new home at once make its schema once. ``migrating``: with SQLite's foreign keys off."""
    from facetrail.store.db import LOCKING, lock_for_action

    with engine.connect().execution_options(**{LOCKING: True}) as connection:
        off = migrating and connection.dialect.name == "sqlite"
        if off:  # on the driver's connection: a statement through SQLAlchemy would BEGIN first
            _sqlite_pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                lock_for_action(connection)
                yield connection
        finally:
            if off:
                _sqlite_pragma(connection, "foreign_keys=ON")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    connection.connection.driver_connection.execute(f"PRAGMA {pragma}")  # type: ignore[union-attr]


def prepare(engine: Engine) -> None:
    """Make an empty database, or check that an existing one is at ``HEAD``. A current one
    costs one read (no lock, no schema inspection): this runs at every start."""
    with engine.connect() as connection:
        if revision_of(connection) == HEAD:
            return
    with _locked(engine) as connection:  # new, outdated or pre-migration: decide under lock
        tables = set(inspect(connection).get_table_names())
        if not tables:
            Base.metadata.create_all(connection)
            install_capture(connection)
            MigrationContext.configure(connection).stamp(_script(), HEAD)
            return
        if _VERSION_TABLE not in tables:
            check_columns(connection)
            raise SchemaOutdatedError(
                f"this home was made before facetrail had migrations: {_UPGRADE}",
                subject="schema",
            )
        current = revision_of(connection)
        if current != HEAD:
            raise SchemaOutdatedError(
                f"the database is at schema revision {current}, this facetrail needs "
                f"{HEAD}: {_UPGRADE}",
                subject="schema",
            )


def upgrade(engine: Engine, to: str = "head") -> UpgradeReport:
    """Apply every migration up to ``HEAD`` (or revision ``to``), adopting a database made
    before migrations."""
    with _locked(engine, migrating=True) as connection:
        tables = set(inspect(connection).get_table_names())
        adopted = bool(tables) and _VERSION_TABLE not in tables
        if adopted:
            check_columns(connection)
            MigrationContext.configure(connection).stamp(_script(), FIRST)
        before = revision_of(connection)
        config = _config(connection)
        command.upgrade(config, to)
        after = revision_of(connection)
    assert after is not None
    return UpgradeReport(None if adopted else before, after, adopted)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Undo migrations down to ``revision`` (to go back to an older facetrail after an upgrade;
    back the home up first). Returns the revision the database is at after."""
    with _locked(engine, migrating=True) as connection:
        command.downgrade(_config(connection), revision)
        return revision_of(connection)


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory(str(SCRIPT_LOCATION))
