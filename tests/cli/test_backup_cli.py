"""``facetrail backup`` and ``facetrail restore`` as an operator types them: JSON answers, typed
refusals with exit status 2, and a restore from an older backup said out loud."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from facetrail.cli.main import app
from facetrail.config import Settings, get_settings
from facetrail.governance.audit import AuditEvent, append
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import system_action
from tests.conftest import PostgresDatabases
from tests.org import make_county


@pytest.fixture()
def home(tmp_path: Path) -> Iterator[AppContext]:
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    make_county(ctx)
    audit.make_checkpoint(ctx)
    yield ctx
    ctx.close()


def _run(*args: str, url: str | None = None) -> Result:
    get_settings.cache_clear()
    env = {"FACETRAIL_DATABASE_URL": url} if url else {}
    try:
        return CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()


def _target(
    tmp_path: Path, source: AppContext, databases: PostgresDatabases | None
) -> tuple[Path, str | None]:
    """A new home whose key folders were restored apart, and an empty database for it."""
    target = tmp_path / "target"
    settings = Settings(home=target)
    shutil.copytree(source.settings.audit_key_dir, settings.audit_key_dir)
    return target, None if databases is None else databases.create(empty=True)


def test_backup_then_restore_through_the_cli(
    home: AppContext, tmp_path: Path, _postgres_per_test: PostgresDatabases | None
) -> None:
    dest = tmp_path / "backup"
    url = home.settings.database_url
    made = _run("--home", str(home.settings.home), "backup", str(dest), "--json", url=url)
    assert made.exit_code == 0, made.output
    figures = json.loads(made.stdout)
    assert figures["destination"] == str(dest) and figures["files"] >= 1
    assert (dest / "manifest.json").is_file()

    again = _run("--home", str(home.settings.home), "backup", str(dest), "--json", url=url)
    assert again.exit_code == 2
    assert json.loads(again.stdout)["error"]["code"] == "backup_destination_refused"

    target, target_url = _target(tmp_path, home, _postgres_per_test)
    done = _run("--home", str(target), "restore", str(dest), "--json", url=target_url)
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert answer["verified"] is True and answer["counts_equal"] is True
    assert answer["counts"]["users"] == 3 and answer["shortened"] is None

    over = _run("--home", str(target), "restore", str(dest), url=target_url)
    assert over.exit_code == 2 and "restore_target_refused" in over.output


def test_a_damaged_backup_is_refused_with_its_file_named(
    home: AppContext, tmp_path: Path, _postgres_per_test: PostgresDatabases | None
) -> None:
    dest = tmp_path / "backup"
    url = home.settings.database_url
    assert _run("--home", str(home.settings.home), "backup", str(dest), url=url).exit_code == 0
    dump = next((dest / "database").iterdir())
    dump.write_bytes(dump.read_bytes() + b"\0")
    target, target_url = _target(tmp_path, home, _postgres_per_test)
    done = _run("--home", str(target), "restore", str(dest), "--json", url=target_url)
    assert done.exit_code == 2
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "backup_damaged" and error["subject"] == str(dump)
    assert not target.exists()


def test_a_restore_from_an_older_backup_is_said_out_loud(
    home: AppContext, tmp_path: Path, _postgres_per_test: PostgresDatabases | None
) -> None:
    dest = tmp_path / "backup"
    url = home.settings.database_url
    assert _run("--home", str(home.settings.home), "backup", str(dest), url=url).exit_code == 0
    for n in range(5):  # recorded after the backup, then lost with the disk
        with system_action(home, "test.event", "x") as session:
            append(session, AuditEvent("system", "test.event", "x", {"n": n}))
    audit.make_checkpoint(home)
    published = tmp_path / "published.json"
    published.write_text(audit.export_checkpoints(home))
    target, target_url = _target(tmp_path, home, _postgres_per_test)
    done = _run(
        "--home",
        str(target),
        "restore",
        str(dest),
        "--last-checkpoint",
        str(published),
        url=target_url,
    )
    assert done.exit_code == 0, done.output
    assert "THE LOG IS SHORTER THAN BEFORE" in done.output
    assert "audit log OK" in done.output
