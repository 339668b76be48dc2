"""The database is sealed by the log, for every table and every column, by one mechanism.

The schema is enumerated: a home holds a row in every sealed table (written by facetrail's
services, or, for the few tables the world below leaves empty, by a plain write inside an
acting transaction, which is the layer every write passes through). Then, as an insider with a
shell would, each sealed column of each table is changed, each row deleted and each row copied
under a new key, on a connection of the insider's own: ``audit verify`` must name every one
(table, key and column). A table or column added later is sealed, or listed in
``store.sealing`` with its reason, or this test fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    CheckConstraint,
    Connection,
    Table,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from facetrail.config import Settings
from facetrail.errors import RecordMismatchError
from facetrail.governance.seal_checks import rows_problems
from facetrail.governance.seal_findings import RowFinding, row_findings
from facetrail.governance.seals import current_seals
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.store.schema import Base, RowSeal
from facetrail.store.sealing import (
    UNSEALED_COLUMNS,
    UNSEALED_TABLES,
    key_columns,
    key_text,
    sealed_columns,
    sealed_tables,
)
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import AGENCY, Org, make_gallery, make_org

#: Every test works on the module's one home (``home``): no database of its own each.
pytestmark = [needs_lfw, pytest.mark.module_database]


def test_every_table_is_sealed_or_listed_with_a_reason() -> None:
    names = set(Base.metadata.tables)
    assert set(UNSEALED_TABLES) <= names, "an unsealed table that does not exist"
    for (table, column), why in UNSEALED_COLUMNS.items():
        assert column in Base.metadata.tables[table].columns and why
    assert all(why for why in UNSEALED_TABLES.values())
    assert {t.name for t in sealed_tables()} == names - set(UNSEALED_TABLES)


def _allowed(table: Table, column: str) -> list[object]:
    """The values a CHECK (``one_of``) allows in ``column``, or [] when none is set."""
    for constraint in table.constraints:
        if isinstance(constraint, CheckConstraint) and str(constraint.name).endswith(column):
            text = str(constraint.sqltext)
            if text.startswith(f"{column} IN"):
                quoted = re.findall(r"'([^']*)'", text)
                return list(quoted) if quoted else [int(v) for v in re.findall(r"-?\d+", text)]
    return []


def _other(table: Table, column: Any, value: object) -> object:
    """A different value of the column's type (within its CHECK and its length)."""
    allowed = [v for v in _allowed(table, column.name) if v != value]
    if allowed:
        return allowed[0]
    kind = column.type.python_type
    if kind is bool:
        return not value
    if kind is int:
        return (value if isinstance(value, int) else 0) + 1
    if kind is float:
        return (value if isinstance(value, float) else 0.0) + 0.5
    if kind is bytes:
        data = bytes(value) if isinstance(value, (bytes, memoryview)) else b""
        return bytes([data[0] ^ 1]) + data[1:] if data else b"x"
    if kind is datetime:
        return (value if isinstance(value, datetime) else datetime.now(UTC)) + timedelta(days=1)
    text = value if isinstance(value, str) else ""
    return text[:-1] + ("y" if text[-1:] != "y" else "z") if text else "x"


def _fill(ctx: AppContext, table: Table) -> None:
    """A row written by an acting transaction, its foreign keys pointing at existing rows."""
    values: dict[str, object] = {}
    with ctx.transaction() as session:
        for column in table.columns:
            if (  # a number the database gives (a key that is also a reference is written)
                column.primary_key
                and column.type.python_type is int
                and len(key_columns(table)) == 1
                and not column.foreign_keys
            ):
                continue
            target = next(iter(column.foreign_keys), None)
            if target is not None:
                values[column.name] = session.scalar(select(target.column).limit(1))
                continue
            allowed = _allowed(table, column.name)
            values[column.name] = allowed[0] if allowed else _other(table, column, None)
        session.execute(insert(table).values(values))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, Org]]:
    """Every sealed table holds at least one sealed row: an organisation, a gallery of four
    LFW people, a finished search, and a written row for each table still empty."""
    tmp_path: Path = tmp_path_factory.mktemp("sealing")
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    org = make_org(ctx)
    copy_first_images(tmp_path / "photos", lfw_people(3))
    make_gallery(org)
    ingest(ctx, org.people["gus"], IngestRequest(tmp_path / "photos", "bookings", AGENCY))
    with ctx.sessions() as session:
        empty = [
            t
            for t in Base.metadata.sorted_tables  # referenced tables first
            if t.name not in UNSEALED_TABLES and session.execute(select(t).limit(1)).first() is None
        ]
    for table in empty:
        _fill(ctx, table)
    yield ctx, org
    ctx.close()


@contextmanager
def _insider(ctx: AppContext) -> Iterator[tuple[Connection, Session]]:
    """A connection of the insider's own (no facetrail trigger, foreign keys off), in a
    transaction that is rolled back after: each change is checked on its own."""
    engine = create_engine(ctx.settings.db_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET session_replication_role = replica")
            else:  # a CHECK that allows one value cannot be broken otherwise
                connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            try:
                yield connection, Session(bind=connection)
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def _where(table: Table, row: Any) -> Any:
    clauses = [c == row._mapping[c.name] for c in key_columns(table)]
    return clauses[0] if len(clauses) == 1 else clauses[0] & clauses[1]


def _key(table: Table, row: Any) -> str:
    return key_text(tuple(row._mapping[c.name] for c in key_columns(table)))


def _findings(session: Session) -> set[tuple[str, str, str, tuple[str, ...]]]:
    found = row_findings(session)
    return {(f.table, f.key, f.how, f.columns) for f in found if f.table != "row_seals"}


def test_untouched_home_verifies(home) -> None:  # type: ignore[no-untyped-def]
    """Every row as facetrail wrote it agrees with its seal (the rows written for the test
    alone are not what their tables' other checks expect, so only the seals are read)."""
    ctx, _org = home
    with ctx.sessions() as session:
        assert row_findings(session) == []
        report = verify_log(session, audit.public_key(ctx))
    assert report.rows == ()


def _cases() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for table in sealed_tables():
        out += [(table.name, f"update {c.name}") for c in sealed_columns(table)]
        out += [(table.name, "delete"), (table.name, "copy")]
    return out


@pytest.mark.parametrize(("table_name", "change"), _cases())
def test_every_change_is_named(home, table_name: str, change: str) -> None:  # type: ignore[no-untyped-def]
    ctx, _org = home
    table = Base.metadata.tables[table_name]
    with _insider(ctx) as (connection, session):
        row = connection.execute(select(table).limit(1)).first()
        assert row is not None, f"{table_name} holds no row"
        key = _key(table, row)
        if change == "delete":
            connection.execute(table.delete().where(_where(table, row)))
            expected = {(table_name, key, "missing", ())}
        elif change == "copy":
            copied = dict(row._mapping)
            for column in key_columns(table):
                copied[column.name] = _other(table, column, copied[column.name])
                if column.type.python_type is int:
                    copied[column.name] = 10**9 + int(row._mapping[column.name])
            for constraint in table.constraints:  # a copy must differ where the row is unique
                for column in getattr(constraint, "columns", ()):
                    if getattr(constraint, "__visit_name__", "") == "unique_constraint":
                        copied[column.name] = _other(table, column, copied[column.name])
            for column in table.columns:
                if column.unique:
                    copied[column.name] = _other(table, column, copied[column.name])
            connection.execute(insert(table).values(copied))
            new_key = key_text(tuple(copied[c.name] for c in key_columns(table)))
            expected = {(table_name, new_key, "extra", ())}
        else:
            name = change.removeprefix("update ")
            column = table.columns[name]
            new = _other(table, column, row._mapping[name])
            if column.type.python_type is int and (column.primary_key or column.foreign_keys):
                new = 10**9 + int(row._mapping[name] or 0)  # a key no row holds
            if new == row._mapping[name] or new not in _allowed(table, name) != []:
                new = f"{row._mapping[name]}x"  # past its CHECK, as an insider may go
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(
                        f"ALTER TABLE {table_name} DROP CONSTRAINT ck_{table_name}_{name}"
                    )
            connection.execute(table.update().where(_where(table, row)).values({name: new}))
            if column.primary_key:
                changed = dict(row._mapping) | {name: new}
                new_key = key_text(tuple(changed[c.name] for c in key_columns(table)))
                expected = {(table_name, key, "missing", ()), (table_name, new_key, "extra", ())}
            else:
                expected = {(table_name, key, "different", (name,))}
        assert _findings(session) == expected


def test_verify_names_the_row_and_column(home) -> None:  # type: ignore[no-untyped-def]
    """What an auditor reads: the report fails and names the row and the column."""
    ctx, _org = home
    table = Base.metadata.tables["users"]
    with _insider(ctx) as (connection, session):
        connection.execute(
            table.update().where(table.c.username == "ivy").values(status="suspended")
        )
        report = verify_log(session, audit.public_key(ctx))
    assert not report.ok
    assert report.rows and isinstance(report.rows[0], RowFinding)
    assert "users" in (report.problem or "") and "column status" in (report.problem or "")


@contextmanager
def _insider_committed(ctx: AppContext) -> Iterator[Connection]:
    """As ``_insider``, but what it changes is committed."""
    engine = create_engine(ctx.settings.db_url)
    try:
        with engine.connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET session_replication_role = replica")
            else:
                connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            yield connection
    finally:
        engine.dispose()


def _laundering_cases() -> list[tuple[str, str]]:
    return [
        (table.name, column.name)
        for table in sealed_tables()
        for column in sealed_columns(table)
        if not column.primary_key
    ]


@pytest.mark.parametrize(("table_name", "name"), _laundering_cases())
def test_a_write_never_seals_a_change_made_outside(home, table_name: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """An insider changes a column; then facetrail writes the same row without touching that
    column: the action is refused (it would make the log vouch for the insider's change), and
    nothing of it is sealed. The insider's change is undone after, so each case stands alone."""
    ctx, _org = home
    table = Base.metadata.tables[table_name]
    column = table.columns[name]
    with ctx.sessions() as session:
        row = session.execute(select(table).order_by(*key_columns(table)).limit(1)).first()
    assert row is not None, f"{table_name} holds no row"
    new = _other(table, column, row._mapping[name])
    if column.type.python_type is int and _allowed(table, name) == []:
        new = 10**9 + int(row._mapping[name] or 0)  # unique, and a row no one holds
    check = None
    if new == row._mapping[name] or new not in _allowed(table, name) != []:
        new = f"{row._mapping[name]}x"  # past its CHECK, as an insider may go
        check = next(
            (
                c
                for c in table.constraints
                if isinstance(c, CheckConstraint) and str(c.name).endswith(name)
            ),
            None,
        )
    postgresql = ctx.engine.dialect.name == "postgresql"
    with _insider_committed(ctx) as connection:
        if check is not None and postgresql:
            connection.exec_driver_sql(f"ALTER TABLE {table_name} DROP CONSTRAINT {check.name}")
        connection.execute(table.update().where(_where(table, row)).values({name: new}))
    try:
        first_key = key_columns(table)[0]
        refused = pytest.raises(RecordMismatchError, match=rf"{name}.*will not be sealed")
        with refused, ctx.transaction() as session:  # writes the row, changing nothing in it
            if session.bind.dialect.name == "sqlite":  # (PostgreSQL checks changed keys only)
                session.execute(text("PRAGMA defer_foreign_keys = ON"))
            session.execute(
                table.update().where(_where(table, row)).values({first_key.name: first_key})
            )
    finally:
        with _insider_committed(ctx) as connection:
            connection.execute(
                table.update().where(_where(table, row)).values({name: row._mapping[name]})
            )
            if check is not None and postgresql:
                connection.exec_driver_sql(
                    f"ALTER TABLE {table_name} ADD CONSTRAINT {check.name} CHECK ({check.sqltext})"
                )
    with ctx.sessions() as session:  # the row is as its seal (none was made of the change)
        key = tuple(row._mapping[c.name] for c in key_columns(table))
        assert rows_problems(session, table_name, [key]) == {}


def test_a_write_to_the_changed_column_itself_is_sealed(home) -> None:  # type: ignore[no-untyped-def]
    """What facetrail itself writes is its own: overwriting the insider's change is sealed."""
    ctx, _org = home
    table = Base.metadata.tables["users"]
    with ctx.sessions() as session:
        row = session.execute(select(table).where(table.c.username == "ivy")).one()
    with _insider_committed(ctx) as connection:
        connection.execute(table.update().where(_where(table, row)).values(email="evil@x"))
    with ctx.transaction() as session:
        session.execute(table.update().where(_where(table, row)).values(email=row.email))
    with ctx.sessions() as session:
        assert row_findings(session) == []


@pytest.mark.parametrize("forged", ["columns", "digest and columns"])
def test_a_forged_seal_index_never_launders_a_change_made_outside(home, forged: str) -> None:  # type: ignore[no-untyped-def]
    """An insider changes a column of a row and forges the row's seal index entry, so that
    the index's column digests say only another column differs (``columns``), or vouch for
    the changed row outright (``digest and columns``); facetrail then writes that other
    column. The index must not be taken at its word: the write is refused, nothing is sealed,
    and ``audit verify`` names the forged index entry. Seen failing before: the write sealed
    the insider's change, and ``audit verify`` then found nothing."""
    ctx, _org = home
    table = Base.metadata.tables["users"]
    with ctx.sessions() as session:
        row = session.execute(select(table).where(table.c.username == "ivy")).one()
        key = _key(table, row)
        before = session.get(RowSeal, ("users", key))
        assert before is not None
        old_digest, old_columns = before.digest, bytes(before.columns)
    with _insider_committed(ctx) as connection:
        connection.execute(table.update().where(_where(table, row)).values(email="evil@x"))
        with Session(bind=connection) as session:
            ((_, tampered_seal),) = current_seals(session, table, [key])
            # what the index would hold had facetrail written the e-mail itself
            forged_columns = tampered_seal.columns
            values: dict[str, object] = {"columns": forged_columns}
            if forged == "digest and columns":
                values["digest"] = tampered_seal.digest
            connection.execute(
                update(RowSeal).where(RowSeal.tbl == "users", RowSeal.key == key).values(values)
            )
    try:
        with ctx.sessions() as session:
            assert any(f.table == "row_seals" for f in row_findings(session))
        refused = pytest.raises(RecordMismatchError, match=r"will not be sealed")
        with refused, ctx.transaction() as session:  # facetrail writes another column
            session.execute(table.update().where(_where(table, row)).values(failed_logins=7))
        with ctx.sessions() as session:
            assert rows_problems(session, "users", [row.id]) != {}
    finally:
        with _insider_committed(ctx) as connection:
            connection.execute(table.update().where(_where(table, row)).values(email=row.email))
            connection.execute(
                update(RowSeal)
                .where(RowSeal.tbl == "users", RowSeal.key == key)
                .values(digest=old_digest, columns=old_columns)
            )
    with ctx.sessions() as session:
        assert row_findings(session) == []
