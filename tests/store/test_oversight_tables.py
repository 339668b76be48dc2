"""Revision 0005: made by upgrading a database at 0004, it adds the agency of audit entries,
the alerts (rules and statuses held by CHECK constraints) and the open-case lists; undone, it
takes them away again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from facetrail.store.migrations import HEAD
from facetrail.store.schema_version import downgrade, upgrade

_INSERT = text(
    "INSERT INTO alerts (agency_id, rule, key, summary, searches, status, raised_at) "
    "VALUES (1, :rule, :key, 's', '[]', :status, '2026-01-01')"
)


def test_upgrade_from_0004_adds_the_oversight_tables_and_their_constraints(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        assert upgrade(engine).after == HEAD
        assert downgrade(engine, "0004_templates_version") == "0004_templates_version"
        tables = inspect(engine).get_table_names()
        assert "alerts" not in tables and "open_cases" not in tables
        assert "agency" not in {c["name"] for c in inspect(engine).get_columns("audit_entries")}
        assert upgrade(engine).after == HEAD
        assert {"alerts", "open_cases"} <= set(inspect(engine).get_table_names())
        with engine.begin() as c:
            c.execute(text("INSERT INTO agencies (id, name) VALUES (1, 'county')"))
            c.execute(_INSERT, {"rule": "volume", "key": "k1", "status": "open"})
        for column, value in (("rule", "gut_feeling"), ("status", "ignored")):
            values = {"rule": "hours", "key": f"k-{column}", "status": "open"} | {column: value}
            with pytest.raises(IntegrityError, match=f"ck_alerts_{column}"), engine.begin() as c:
                c.execute(_INSERT, values)
        with pytest.raises(IntegrityError), engine.begin() as c:  # one alert per key
            c.execute(_INSERT, {"rule": "volume", "key": "k1", "status": "open"})
    finally:
        engine.dispose()
