"""Revision 0010: the ``alerts.rule`` constraint takes the ``protected_activity`` rule, on SQLite
and on this machine's PostgreSQL; undone while such an alert is kept, it is refused (an alert
is part of the agency's record) and changes nothing; without one it narrows the constraint."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from facetrail.errors import MigrationRefusedError
from facetrail.store.db import make_engine
from facetrail.store.migrations import HEAD
from facetrail.store.schema_version import downgrade, upgrade

_INSERT = text(
    "INSERT INTO alerts (agency_id, rule, key, summary, searches, status, raised_at) "
    "VALUES (1, :rule, :key, 's', '[]', 'open', '2026-01-01')"
)
_BEFORE = "0009_source_retirements"


def _protected_alerts_come_and_go(url: str) -> None:
    engine = make_engine(url, prepare_schema=False)
    try:
        assert upgrade(engine).after == HEAD
        with engine.begin() as c:
            c.execute(text("INSERT INTO agencies (id, name) VALUES (1, 'county')"))
            c.execute(_INSERT, {"rule": "protected_activity", "key": "protected_activity:a"})
        with pytest.raises(MigrationRefusedError, match="1 alert"):
            downgrade(engine, _BEFORE)
        with engine.begin() as c:  # refused, nothing changed
            c.execute(_INSERT, {"rule": "protected_activity", "key": "protected_activity:b"})
            c.execute(text("DELETE FROM alerts WHERE rule = 'protected_activity'"))
        assert downgrade(engine, _BEFORE) == _BEFORE
        with pytest.raises(IntegrityError, match="ck_alerts_rule"), engine.begin() as c:
            c.execute(_INSERT, {"rule": "protected_activity", "key": "protected_activity:c"})
        assert upgrade(engine).after == HEAD
    finally:
        engine.dispose()


def test_the_protected_activity_rule_on_sqlite(tmp_path: Path) -> None:
    _protected_alerts_come_and_go(f"sqlite:///{tmp_path / 'm.db'}")


def test_the_protected_activity_rule_on_postgresql(pg_url: str) -> None:
    _protected_alerts_come_and_go(pg_url)
