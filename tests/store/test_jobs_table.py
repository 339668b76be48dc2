"""The jobs table (revision 0003): made by upgrading a database at 0002, and its statuses and
kinds held by CHECK constraints."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from facetrail.store.migrations import HEAD
from facetrail.store.schema_version import downgrade, upgrade


def test_upgrade_from_0002_adds_jobs_and_its_constraints(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        assert upgrade(engine).after == HEAD
        assert downgrade(engine, "0002_keys_checks_indexes") == "0002_keys_checks_indexes"
        assert "jobs" not in inspect(engine).get_table_names()
        assert upgrade(engine).after == HEAD
        assert "jobs" in inspect(engine).get_table_names()
        for column, value in (("status", "paused"), ("kind", "erase")):
            values = {"kind": "ingest", "status": "queued"} | {column: value}
            with pytest.raises(IntegrityError, match=f"ck_jobs_{column}"), engine.begin() as c:
                c.execute(
                    text(
                        "INSERT INTO jobs (kind, status, params, created_by, agency_id, "
                        "done_items, cancel_requested, created_at) VALUES "
                        "(:kind, :status, '{}', 1, 1, 0, false, '2026-01-01')"
                    ),
                    values,
                )
    finally:
        engine.dispose()
