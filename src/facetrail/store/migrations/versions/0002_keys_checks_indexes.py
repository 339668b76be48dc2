"""64-bit keys, CHECK constraints on statuses, indexes for disclosure and oversight

Revision ID: 0002_keys_checks_indexes
Revises: 0001_initial

- The keys of tables that grow without bound become BIGINT on PostgreSQL (their sequences
  too). SQLite's INTEGER is 64-bit already and stays the rowid alias: no change there.
- Every status-like column gets a named CHECK listing its values. Rows holding anything else
  stop the upgrade first (``MigrationRefusedError`` naming the table, column and value):
  nothing is coerced. On SQLite a CHECK means rebuilding the table (Alembic's batch mode),
  which needs foreign keys off (``store.schema_version`` turns them off outside the
  transaction); foreign keys are checked again before the end.
- Indexes on the columns disclosure and oversight filter on.

The values are those of this revision's time, written out here, not imported: a later change
to ``store.vocabulary`` needs a revision of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.errors import MigrationRefusedError

revision = "0002_keys_checks_indexes"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

#: table -> its columns made BIGINT on PostgreSQL: keys of what grows without bound, the
#: columns that point at them, and audit positions and sizes.
WIDENED: dict[str, tuple[str, ...]] = {
    "images": ("id",),
    "faces": ("id", "image_id"),
    "templates": ("id", "face_id"),
    "ingest_failures": ("id",),
    "audit_entries": ("seq",),
    "audit_head": ("size",),
    "audit_checkpoints": ("id", "tree_size"),
    "user_roles": ("audit_seq",),
    "agency_policies": ("audit_seq",),
    "inbox_messages": ("id",),
    "outbox_emails": ("id",),
    "searches": ("id",),
    "search_candidates": ("id", "search_id", "template_id"),
    "reviews": ("id", "candidate_id", "search_id", "audit_seq"),
}

#: table -> (column, the values it may hold); the constraint is ``ck_<table>_<column>`` (names
#: are given whole, ``op.f``: the models' naming convention would prefix them again).
CHECKS: dict[str, tuple[tuple[str, tuple[str, ...] | tuple[int, ...]], ...]] = {
    "users": (
        ("status", ("requested", "active", "suspended")),
        ("account_type", ("trial", "full")),
    ),
    "user_roles": (
        (
            "role",
            (
                "investigator",
                "supervisor",
                "agency_head",
                "auditor",
                "gallery_admin",
                "network_operator",
                "system_admin",
            ),
        ),
    ),
    "searches": (
        ("status", ("pending", "approved", "denied", "failed", "done")),
        ("outcome", ("lead", "no_lead")),
        ("fault", ("input", "system")),
    ),
    "reviews": (
        ("stage", (1, 2)),
        ("decision", ("possible_match", "not_a_match", "inconclusive")),
    ),
}

#: (index, table, column)
INDEXES = (
    ("ix_audit_entries_actor", "audit_entries", "actor"),
    ("ix_agencies_network_id", "agencies", "network_id"),
    ("ix_outbox_emails_sent_at", "outbox_emails", "sent_at"),
)

_INT32_MAX = 2**31 - 1


def _sql_list(values: tuple[str, ...] | tuple[int, ...]) -> str:
    return ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)


def _refuse_unlisted_values(bind: sa.Connection) -> None:
    """Stop before any change when a row holds a value its new CHECK would refuse."""
    for table, checks in CHECKS.items():
        for column, values in checks:
            col: sa.ColumnClause[object] = sa.column(column)
            found = bind.execute(
                sa.select(col, sa.func.count())
                .select_from(sa.table(table, col))
                .where(col.is_not(None), col.not_in(values))
                .group_by(col)
                .order_by(col)
            ).first()
            if found is not None:
                bad, rows = found
                raise MigrationRefusedError(
                    f"table {table}, column {column}: {rows} row(s) hold {bad!r}, which is not "
                    f"one of {', '.join(map(str, values))}. Nothing was changed: correct those "
                    "rows, then upgrade again",
                    subject=f"{table}.{column}",
                )


def _foreign_key_problems(bind: sa.Connection) -> set[tuple[object, ...]]:
    return {tuple(row) for row in bind.exec_driver_sql("PRAGMA foreign_key_check")}


class _SqliteRebuild:
    """Rebuilding SQLite tables safely: with foreign keys on, dropping the old copy of a table
    would first delete its rows, cascading to the rows that point at them."""

    def __init__(self, bind: sa.Connection) -> None:
        if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise MigrationRefusedError(
                "SQLite foreign keys are on: rebuilding a table would delete the rows that "
                "point at it. Run this migration through 'facetrail db upgrade'",
                subject="schema",
            )
        self.bind = bind
        self.before = _foreign_key_problems(bind)

    def check(self) -> None:
        """No row points at nothing now that did not before."""
        if new := sorted(_foreign_key_problems(self.bind) - self.before, key=str):
            table, rowid, parent, _ = new[0]
            raise MigrationRefusedError(
                f"after rebuilding, row {rowid} of {table} points at a missing {parent} row",
                subject=str(table),
            )


def upgrade() -> None:
    bind = op.get_bind()
    _refuse_unlisted_values(bind)
    if bind.dialect.name == "postgresql":
        _retype(bind, "BIGINT")
    rebuild = _SqliteRebuild(bind) if bind.dialect.name == "sqlite" else None
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, values in checks:
                batch.create_check_constraint(
                    op.f(f"ck_{table}_{column}"), sa.text(f"{column} IN ({_sql_list(values)})")
                )
    if rebuild is not None:
        rebuild.check()
    for name, table, column in INDEXES:
        op.create_index(op.f(name), table, [column])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _refuse_wide_values(bind)
    for name, table, _ in INDEXES:
        op.drop_index(op.f(name), table_name=table)
    rebuild = _SqliteRebuild(bind) if bind.dialect.name == "sqlite" else None
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, _ in checks:
                batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
    if rebuild is not None:
        rebuild.check()
    if bind.dialect.name == "postgresql":
        _retype(bind, "INTEGER")


def _retype(bind: sa.Connection, to: str) -> None:
    """Every widened column to ``to``, one ALTER (one rewrite) per table, and the sequence
    behind each serial key with it."""
    for table, columns in WIDENED.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {to}" for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
        for column in columns:
            sequence = bind.scalar(sa.select(sa.func.pg_get_serial_sequence(table, column)))
            if sequence is not None:
                op.execute(f"ALTER SEQUENCE {sequence} AS {to}")


def _refuse_wide_values(bind: sa.Connection) -> None:
    """Stop before narrowing a column that holds an id a 32-bit column cannot."""
    for table, columns in WIDENED.items():
        for column in columns:
            top = bind.scalar(
                sa.select(sa.func.max(sa.column(column))).select_from(sa.table(table))
            )
            if top is not None and top > _INT32_MAX:
                raise MigrationRefusedError(
                    f"table {table}, column {column} holds {top}, more than a 32-bit column "
                    "can: this database cannot go back to revision 0001_initial",
                    subject=f"{table}.{column}",
                )
