"""No internal error reaches a user: a home from an older version, a database file that is not
one, and a fault facetrail has no type for each end in one line with a code, never a
traceback."""

from __future__ import annotations

import sqlite3
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facetrail.cli import main as cli_main
from facetrail.cli.main import INTERNAL_ERROR_EXIT, app, main
from facetrail.config import Settings, get_settings
from facetrail.errors import DatabaseUnreadableError, SchemaOutdatedError
from facetrail.services.context import AppContext


def _home_lacking(tmp_path: Path, table: str, column: str) -> Path:
    home = tmp_path / "home"
    AppContext.open(Settings(home=home)).close()
    with sqlite3.connect(home / "facetrail.db") as db:
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        db.execute("DROP TABLE audit_head")  # a table that version did not have yet either
        db.execute("DROP TABLE alembic_version")  # nor migrations
    return home


def _dump(home: Path) -> list[str]:
    with sqlite3.connect(home / "facetrail.db") as db:
        return list(db.iterdump())


def test_a_home_from_an_older_version_is_refused_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home_lacking(tmp_path, "reviews", "audit_seq")
    before = _dump(home)
    with pytest.raises(SchemaOutdatedError, match="reviews lacks column audit_seq"):
        AppContext.open(Settings(home=home))
    monkeypatch.setenv("FACETRAIL_HOME", str(home))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["gallery", "list"])
    finally:
        get_settings.cache_clear()
    said = " ".join(out.output.split())
    assert out.exit_code == 2 and "[schema_outdated]" in said and "older than" in said
    assert out.exception is None or isinstance(out.exception, SystemExit)
    assert _dump(home) == before  # nothing created, nothing written


def test_a_file_that_is_not_a_database_is_refused_typed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "facetrail.db").write_bytes(b"this is not a database, it is a note\n" * 200)
    with pytest.raises(DatabaseUnreadableError, match="not a database"):
        AppContext.open(Settings(home=home))


def test_an_unexpected_fault_is_one_line_with_its_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(cli_main, "app", broken)
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
