"""Migrations: on SQLite and on this machine's PostgreSQL they make exactly the schema of the
models (CHECK constraints too); a home made before migrations (tables from ``create_all``) is
refused until ``db upgrade`` adopts it, with every record and audit entry intact; an outdated
database says what to run."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import Settings, get_settings
from facetrail.errors import MigrationRefusedError, SchemaOutdatedError
from facetrail.governance.verify import verify_log
from facetrail.services import database
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.store.db import make_engine
from facetrail.store.migrations import HEAD, SCRIPT_LOCATION
from facetrail.store.schema import AuditEntryRow, PolicyVersion, User
from facetrail.store.schema_version import FIRST, downgrade, upgrade
from tests.org import make_org
from tests.store.homes import (
    check_constraints,
    differences,
    logging_as_before_0005,
    model_check_constraints,
)


def test_head_is_the_newest_migration() -> None:
    assert ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head() == HEAD


def _migrated_from_empty(url: str) -> None:
    """Migrations on an empty database give exactly the models' schema."""
    engine = make_engine(url, prepare_schema=False)
    try:
        report = upgrade(engine)
    finally:
        engine.dispose()
    assert (report.after, report.adopted) == (HEAD, False)
    assert differences(url) == []
    assert check_constraints(url) == model_check_constraints()  # Alembic compares no CHECKs


def test_migrations_make_the_models_schema_on_sqlite(tmp_path: Path) -> None:
    _migrated_from_empty(f"sqlite:///{tmp_path / 'm.db'}")


def test_migrations_make_the_models_schema_on_postgresql(pg_url: str) -> None:
    _migrated_from_empty(pg_url)


def test_a_new_postgresql_database_takes_a_whole_organisation(pg_url: str, tmp_path: Path) -> None:
    ctx = AppContext.open(Settings(home=tmp_path / "home", database_url=pg_url, threads=1))
    try:
        org = make_org(ctx)
        with ctx.sessions() as s:
            assert s.scalar(select(func.count(User.id))) == 6
            report = verify_log(s, audit.public_key(ctx))
        assert report.ok, report.problem
        assert org.people["ivy"].agency == "county"
    finally:
        ctx.close()


def _counts(ctx: AppContext) -> tuple[int, int, int]:
    with ctx.sessions() as s:
        return (
            int(s.scalar(select(func.count(User.id))) or 0),
            int(s.scalar(select(func.count(PolicyVersion.id))) or 0),
            int(s.scalar(select(func.count(AuditEntryRow.seq))) or 0),
        )


def test_a_home_made_before_migrations_is_adopted_with_nothing_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home", threads=1)
    ctx = AppContext.open(settings)
    with logging_as_before_0005():  # as the facetrail of then logged
        make_org(ctx)
    users, policies, entries = _counts(ctx)
    ctx.close()
    # What create_all made before migrations: the first revision's schema, no version table.
    engine = make_engine(settings.db_url, prepare_schema=False)
    try:
        assert downgrade(engine, FIRST) == FIRST
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()

    with pytest.raises(SchemaOutdatedError, match="facetrail db upgrade"):
        AppContext.open(settings)
    monkeypatch.setenv("FACETRAIL_HOME", str(settings.home))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        status = runner.invoke(app, ["db", "status", "--json"])
        assert status.exit_code == 0 and '"current": null' in status.output
        out = runner.invoke(app, ["db", "upgrade"])
        assert out.exit_code == 0, out.output
        assert "adopted" in out.output and HEAD in out.output
        assert runner.invoke(app, ["db", "status"]).exit_code == 0
    finally:
        get_settings.cache_clear()

    ctx = AppContext.open(settings)
    try:
        with ctx.sessions() as s:
            after = list(s.scalars(select(AuditEntryRow).where(AuditEntryRow.seq > entries)))
            report = verify_log(s, audit.public_key(ctx))
        # the db.upgrade entry, then the seals of every row the home held as it stood
        assert _counts(ctx)[:2] == (users, policies)
        assert after[0].kind == "db.upgrade" and '"adopted":true' in after[0].details
        assert after[1:] and {e.kind for e in after[1:]} == {"row.seal"}
        assert report.ok, report.problem
    finally:
        ctx.close()


def test_a_database_at_another_revision_says_what_to_run(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", threads=1)
    AppContext.open(settings).close()
    engine = make_engine(settings.db_url, prepare_schema=False)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    engine.dispose()
    with pytest.raises(SchemaOutdatedError, match=r"0000_older.*facetrail db upgrade"):
        AppContext.open(settings)
    assert database.schema_status(settings).current == "0000_older"


def test_entries_that_hash_their_agency_keep_revision_0005_from_being_undone(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path / "home", threads=1)
    ctx = AppContext.open(settings)
    try:
        make_org(ctx)  # its account entries name their agency
        with ctx.sessions() as s:
            first = s.scalar(
                select(func.min(AuditEntryRow.seq)).where(AuditEntryRow.agency.is_not(None))
            )
    finally:
        ctx.close()
    assert first is not None
    engine = make_engine(settings.db_url, prepare_schema=False)
    try:
        with pytest.raises(MigrationRefusedError) as refused:
            downgrade(engine, "0004_templates_version")
    finally:
        engine.dispose()
    assert (
        refused.value.subject == "audit_entries.agency"
        and f"entry {first} " in refused.value.message
    )
    ctx = AppContext.open(settings)  # still at HEAD, the log whole
    try:
        with ctx.sessions() as s:
            report = verify_log(s, audit.public_key(ctx))
        assert report.ok, report.problem
    finally:
        ctx.close()
