"""No internal error reaches a user: a home from an older version, a database that cannot be
opened (a file that is not one, a PostgreSQL database that is not there), and a fault facetrail
has no type for each end in one line with a code, never a traceback."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, make_url, select, text
from typer.testing import CliRunner

from facetrail.cli import main as cli_main
from facetrail.cli.main import INTERNAL_ERROR_EXIT, app, main
from facetrail.config import Settings, get_settings
from facetrail.errors import DatabaseUnreadableError, SchemaOutdatedError
from facetrail.services.context import AppContext


def _home_lacking(tmp_path: Path, table: str, column: str) -> Settings:
    """A home whose database (the configured one) was made by an older version."""
    settings = Settings(home=tmp_path / "home")
    AppContext.open(settings).close()
    engine = create_engine(settings.db_url)
    try:
        with engine.begin() as db:
            db.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            db.execute(text("DROP TABLE audit_head"))  # a table that version did not have yet
            db.execute(text("DROP TABLE alembic_version"))  # nor migrations
    finally:
        engine.dispose()
    return settings


def _dump(settings: Settings) -> list[object]:
    """Every table's columns, indexes and rows."""
    engine = create_engine(settings.db_url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as db:
            return [
                (
                    table.name,
                    [(c.name, repr(c.type), c.nullable) for c in table.columns],
                    sorted(repr(sorted(i.columns.keys())) for i in table.indexes),
                    sorted(map(repr, db.execute(select(table)))),
                )
                for table in tables.sorted_tables
            ]
    finally:
        engine.dispose()


def test_a_home_from_an_older_version_is_refused_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _home_lacking(tmp_path, "reviews", "audit_seq")
    before = _dump(settings)
    with pytest.raises(SchemaOutdatedError, match="reviews lacks column audit_seq"):
        AppContext.open(settings)
    monkeypatch.setenv("FACETRAIL_HOME", str(settings.home))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["gallery", "list"])
    finally:
        get_settings.cache_clear()
    said = " ".join(out.output.split())
    assert out.exit_code == 2 and "[schema_outdated]" in said and "older than" in said
    assert out.exception is None or isinstance(out.exception, SystemExit)
    assert _dump(settings) == before  # nothing created, nothing written


def test_a_database_that_cannot_be_opened_is_refused_typed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    if settings.db_file is not None:  # SQLite: the home holds a file that is not a database
        settings.home.mkdir()
        settings.db_file.write_bytes(b"this is not a database, it is a note\n" * 200)
        problem = "not a database"
    else:  # PostgreSQL: the URL names a database the server does not have
        missing = make_url(settings.db_url).set(database="facetrail_no_such_database")
        settings = Settings(home=settings.home, database_url=missing.render_as_string())
        problem = "facetrail_no_such_database.* does not exist"
    with pytest.raises(DatabaseUnreadableError, match=problem):
        AppContext.open(settings)


def test_an_unexpected_fault_is_one_line_with_its_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object) -> None:
        raise KeyError("a bug")

    # A bug anywhere in running a command: here in the step that readies its help.
    monkeypatch.setattr(cli_main, "plain_metavars", broken)
    monkeypatch.delenv("FACETRAIL_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == INTERNAL_ERROR_EXIT
    err = " ".join(capsys.readouterr().err.split())
    assert "[internal_error]" in err and "KeyError" in err and "Traceback" not in err
    monkeypatch.setenv("FACETRAIL_DEBUG", "1")
    with pytest.raises(KeyError):  # for whoever debugs it
        main()


def test_the_installed_command_is_the_guarded_entry_point() -> None:
    (script,) = entry_points(group="console_scripts", name="facetrail")
    assert script.value == "facetrail.cli.main:main"
