"""Issue 12: ``audit verify`` accepts only entries stored exactly in their canonical bytes, and
its exit status tells "tampering found" (1) from "cannot read the input" (2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from facetrail.config import Settings
from facetrail.governance.audit import AuditEvent, append
from facetrail.services.audit import log as audit
from facetrail.services.audit.log import default_database
from facetrail.services.context import AppContext


@pytest.fixture()
def log(tmp_path: Path):  # type: ignore[no-untyped-def]
    ctx = AppContext.open(Settings(home=tmp_path / "home"))
    audit.ensure_keys(ctx)
    for i in range(8):
        with ctx.transaction() as s:
            append(s, AuditEvent("ivy", "test.event", f"thing-{i}", {"a": i, "b": "x"}))
    audit.make_checkpoint(ctx)
    yield ctx
    ctx.close()


def _verify(ctx: AppContext, db: Path | None = None, key: str | None = None) -> Result:
    from facetrail.cli.main import app

    database = db or default_database(ctx.settings)  # the file, or the PostgreSQL URL
    vkey = key or str(ctx.settings.home / "keys" / "audit-log.vkey")
    return CliRunner().invoke(app, ["audit", "verify", "--db", str(database), "--public-key", vkey])


def _store_details(ctx: AppContext, seq: int, details: str) -> None:
    with ctx.transaction() as s:
        s.execute(
            text("UPDATE audit_entries SET details = :d WHERE seq = :seq"),
            {"d": details, "seq": seq},
        )


def test_untouched_log_verifies(log: AppContext) -> None:
    result = _verify(log)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "stored",
    [
        '{"a":3,"a":3,"b":"x"}',  # a duplicate key: parsers disagree on which one counts
        '{"a":0,"a":3,"b":"x"}',  # ... hides a second value behind the one that hashes
        '{"b":"x","a":3}',  # keys out of canonical order
        '{"a": 3, "b": "x"}',  # spacing
        '{"a":3,"b":"\\u0078"}',  # an escape where the canonical form has the character
    ],
)
def test_non_canonical_details_are_tampering(log: AppContext, stored: str) -> None:
    # Every one of these parses to the entry's true value, so its hash still matches.
    _store_details(log, 4, stored)
    result = _verify(log)
    assert result.exit_code == 1, result.output
    assert "entry 4" in result.output


def test_duplicate_key_is_named(log: AppContext) -> None:
    _store_details(log, 2, '{"a":1,"a":1,"b":"x"}')
    result = _verify(log)
    assert result.exit_code == 1 and "duplicate key 'a'" in " ".join(result.output.split())


def test_unreadable_database_is_not_tampering(log: AppContext, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    result = _verify(log, garbage)
    assert result.exit_code == 2 and "audit_input_unreadable" in result.output
    missing = _verify(log, tmp_path / "nowhere.db")
    assert missing.exit_code == 2
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert _verify(log, empty).exit_code == 2  # a database without an audit log
    # and a key that cannot be read is not tampering either
    assert _verify(log, key="not+a+key").exit_code == 2
    assert _verify(log, key=str(tmp_path / "no-such.vkey")).exit_code == 2


def test_verify_help_documents_the_exit_codes() -> None:
    command = Path(sys.executable).parent / "facetrail"
    done = subprocess.run(
        [command, "audit", "verify", "--help"], capture_output=True, text=True, check=True
    )
    out = " ".join(done.stdout.split())
    assert "1 tampering found" in out and "2 the input cannot be read" in out
